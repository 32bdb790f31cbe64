//! Admission rules that need another object than the one being written, so CRD schemas cannot
//! express them: a space's quota and account limit must fit its class's limits.
//!
//! A ValidatingAdmissionPolicy takes every SpaceClass as a parameter (`paramRef.selector: {}`);
//! the API server evaluates the rules once per class and ANDs the results, and each rule only bites
//! for the class the space uses (its `spaceClassName`, or the default class when it names none).
//! Nothing runs in the operator's process, so the API server refuses bad input even when the
//! operator is down.

use k8s_openapi::api::admissionregistration::v1::{ValidatingAdmissionPolicy, ValidatingAdmissionPolicyBinding};
use serde_json::json;

pub const POLICY_NAME: &str = "associationspace-class-limits.frama.space";

/// True for the evaluation against the class the space uses.
const USES_THIS_CLASS: &str = "(has(object.spec.spaceClassName) ? object.spec.spaceClassName == params.metadata.name : (has(params.spec.default) && params.spec.default))";

pub fn class_limits_policy() -> Result<ValidatingAdmissionPolicy, serde_json::Error> {
    serde_json::from_value(json!({
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingAdmissionPolicy",
        "metadata": { "name": POLICY_NAME, "labels": { "app.kubernetes.io/part-of": "framaspace-operator" } },
        "spec": {
            "failurePolicy": "Fail",
            "paramKind": { "apiVersion": "frama.space/v1alpha1", "kind": "SpaceClass" },
            "matchConstraints": {
                "resourceRules": [{
                    "apiGroups": ["frama.space"],
                    "apiVersions": ["v1alpha1"],
                    "operations": ["CREATE", "UPDATE"],
                    "resources": ["associationspaces"]
                }]
            },
            // Only spec changes are judged: a space that a later class change left above the
            // limits must still accept the operator's finalizer updates and its own deletion.
            "matchConditions": [{
                "name": "spec-written",
                "expression": "request.operation == 'CREATE' || object.spec != oldObject.spec"
            }],
            "validations": [
                {
                    "expression": format!("!{USES_THIS_CLASS} || !has(object.spec.quota) || quantity(object.spec.quota).compareTo(quantity(params.spec.limits.maxQuota)) <= 0"),
                    "messageExpression": "'spec.quota: ' + object.spec.quota + ' is above the maximum ' + params.spec.limits.maxQuota + ' of SpaceClass ' + params.metadata.name",
                    "reason": "Invalid"
                },
                {
                    "expression": format!("!{USES_THIS_CLASS} || !has(object.spec.maxAccounts) || object.spec.maxAccounts <= params.spec.limits.maxAccounts"),
                    "messageExpression": "'spec.maxAccounts: ' + string(object.spec.maxAccounts) + ' is above the maximum ' + string(params.spec.limits.maxAccounts) + ' of SpaceClass ' + params.metadata.name",
                    "reason": "Invalid"
                }
            ]
        }
    }))
}

pub fn class_limits_binding() -> Result<ValidatingAdmissionPolicyBinding, serde_json::Error> {
    serde_json::from_value(json!({
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingAdmissionPolicyBinding",
        "metadata": { "name": POLICY_NAME, "labels": { "app.kubernetes.io/part-of": "framaspace-operator" } },
        "spec": {
            "policyName": POLICY_NAME,
            "validationActions": ["Deny"],
            // No class at all is the operator's to report (condition ClassNotFound), not a reason
            // to refuse the space: a GitOps sync may create the space before its class.
            "paramRef": { "selector": {}, "parameterNotFoundAction": "Allow" }
        }
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy_and_binding_are_valid_objects() {
        let policy = class_limits_policy().expect("policy deserializes");
        let binding = class_limits_binding().expect("binding deserializes");
        let spec = policy.spec.expect("spec");
        assert_eq!(spec.validations.map(|v| v.len()), Some(2));
        assert_eq!(binding.spec.and_then(|s| s.policy_name), Some(POLICY_NAME.to_string()));
    }
}
