//! Admission rules that need another object than the one being written, so CRD schemas cannot
//! express them: a space's quota and account limit must fit its class's limits.
//!
//! A ValidatingAdmissionPolicy takes every SpaceClass as a parameter (`paramRef.selector: {}`);
//! the API server evaluates the rules once per class and ANDs the results, and each rule only bites
//! for the class the space uses (its `spaceClassName`, or the default class when it names none).
//! Nothing runs in the operator's process, so the API server refuses bad input even when the
//! operator is down.

use k8s_openapi::api::admissionregistration::v1::{ValidatingAdmissionPolicy, ValidatingAdmissionPolicyBinding};
use serde_json::{Value, json};

pub const POLICY_NAME: &str = "associationspace-class-limits.frama.space";

/// True for the evaluation against the class the space uses.
const USES_THIS_CLASS: &str = "(has(object.spec.spaceClassName) ? object.spec.spaceClassName == params.metadata.name : (has(params.spec.default) && params.spec.default))";

fn metadata(name: &str) -> Value {
    json!({ "name": name, "labels": { "app.kubernetes.io/part-of": "framaspace-operator" } })
}

/// A policy on the writes of spaces (every policy here judges those), refusing when it fails.
fn space_policy(name: &str, mut spec: Value) -> Result<ValidatingAdmissionPolicy, serde_json::Error> {
    spec["failurePolicy"] = json!("Fail");
    spec["matchConstraints"] = json!({
        "resourceRules": [{
            "apiGroups": ["frama.space"],
            "apiVersions": ["v1alpha1"],
            "operations": ["CREATE", "UPDATE"],
            "resources": ["associationspaces"]
        }]
    });
    serde_json::from_value(json!({
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingAdmissionPolicy",
        "metadata": metadata(name),
        "spec": spec
    }))
}

/// The binding that makes the policy `name` deny.
fn deny_binding(name: &str, mut spec: Value) -> Result<ValidatingAdmissionPolicyBinding, serde_json::Error> {
    spec["policyName"] = json!(name);
    spec["validationActions"] = json!(["Deny"]);
    serde_json::from_value(json!({
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingAdmissionPolicyBinding",
        "metadata": metadata(name),
        "spec": spec
    }))
}

pub fn class_limits_policy() -> Result<ValidatingAdmissionPolicy, serde_json::Error> {
    space_policy(
        POLICY_NAME,
        json!({
            "paramKind": { "apiVersion": "frama.space/v1alpha1", "kind": "SpaceClass" },
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
        }),
    )
}

pub fn class_limits_binding() -> Result<ValidatingAdmissionPolicyBinding, serde_json::Error> {
    // No class at all is the operator's to report (condition ClassNotFound), not a reason
    // to refuse the space: a GitOps sync may create the space before its class.
    deny_binding(POLICY_NAME, json!({ "paramRef": { "selector": {}, "parameterNotFoundAction": "Allow" } }))
}

pub const REATTACH_POLICY_NAME: &str = "associationspace-reattach.frama.space";

/// Setting `frama.space/reattach-retained` (on create, or changing it later) needs the verb
/// `reattach` on the space, which only the platform engineers' role grants: whoever may create
/// spaces (the portal) cannot take over the data a deleted space of that name left behind.
pub fn reattach_policy() -> Result<ValidatingAdmissionPolicy, serde_json::Error> {
    let key = crate::api::labels::REATTACH_RETAINED_ANNOTATION;
    let value = |o: &str| {
        format!("(has({o}.metadata.annotations) && '{key}' in {o}.metadata.annotations ? {o}.metadata.annotations['{key}'] : '')")
    };
    space_policy(
        REATTACH_POLICY_NAME,
        json!({
            "matchConditions": [{
                "name": "reattach-set",
                "expression": format!("{} != '' && (request.operation == 'CREATE' || {} != {})", value("object"), value("object"), value("oldObject"))
            }],
            "validations": [{
                "expression": "authorizer.group('frama.space').resource('associationspaces').name(object.metadata.name).check('reattach').allowed()",
                "message": format!("metadata.annotations[{key}]: only a platform engineer (verb reattach on associationspaces) re-attaches the data a deleted space retained"),
                "reason": "Forbidden"
            }]
        }),
    )
}

pub fn reattach_binding() -> Result<ValidatingAdmissionPolicyBinding, serde_json::Error> {
    deny_binding(REATTACH_POLICY_NAME, json!({}))
}

pub const HOLD_UPGRADE_POLICY_NAME: &str = "associationspace-hold-upgrade.frama.space";

/// Setting `spec.holdUpgrade` (on create, or turning it on) needs the verb `hold-upgrade` on the
/// space, which the platform engineers' role grants: a held space never upgrades and pins its
/// class's version path, which whoever may create spaces (the portal) must not decide (hostile
/// pass 2, "the portal may set operational fields").
pub fn hold_upgrade_policy() -> Result<ValidatingAdmissionPolicy, serde_json::Error> {
    let held = |o: &str| format!("(has({o}.spec.holdUpgrade) && {o}.spec.holdUpgrade == true)");
    space_policy(
        HOLD_UPGRADE_POLICY_NAME,
        json!({
            "matchConditions": [{
                "name": "hold-set",
                "expression": format!("{} && (request.operation == 'CREATE' || !{})", held("object"), held("oldObject"))
            }],
            "validations": [{
                "expression": "authorizer.group('frama.space').resource('associationspaces').name(object.metadata.name).check('hold-upgrade').allowed()",
                "message": "spec.holdUpgrade: only a platform engineer (verb hold-upgrade on associationspaces) holds a space back from its class's upgrades",
                "reason": "Forbidden"
            }]
        }),
    )
}

pub fn hold_upgrade_binding() -> Result<ValidatingAdmissionPolicyBinding, serde_json::Error> {
    deny_binding(HOLD_UPGRADE_POLICY_NAME, json!({}))
}

pub const WAKE_POLICY_NAME: &str = "associationspace-wake-only.frama.space";
/// The wake component's ServiceAccount (the chart's), whatever its namespace.
pub const WAKE_SERVICE_ACCOUNT: &str = "framaspace-wake";

/// The wake component may patch spaces (RBAC cannot say which fields): this holds it to its one
/// purpose, the annotation `frama.space/wake-requested`. Its spec, labels, finalizers and every
/// other annotation stay as they were, and it creates nothing.
pub fn wake_policy() -> Result<ValidatingAdmissionPolicy, serde_json::Error> {
    let key = crate::api::labels::WAKE_REQUEST_ANNOTATION;
    let annotations = |o: &str| format!("(has({o}.metadata.annotations) ? {o}.metadata.annotations : {{}})");
    let (now, before) = (annotations("object"), annotations("oldObject"));
    // Every other annotation kept, none added or removed (maps compared key by key: a map's
    // iteration order is not fixed).
    let others_kept =
        format!("{now}.all(k, k == '{key}' || (k in {before} && {before}[k] == {now}[k])) && {before}.all(k, k == '{key}' || k in {now})");
    let same = |field: &str| {
        format!(
            "(has(object.metadata.{field}) == has(oldObject.metadata.{field})) && (!has(object.metadata.{field}) || object.metadata.{field} == oldObject.metadata.{field})"
        )
    };
    space_policy(
        WAKE_POLICY_NAME,
        json!({
            "matchConditions": [{
                "name": "wake-component",
                "expression": format!("request.userInfo.username.startsWith('system:serviceaccount:') && request.userInfo.username.endsWith(':{WAKE_SERVICE_ACCOUNT}')")
            }],
            "validations": [
                { "expression": "request.operation == 'UPDATE'", "message": "the wake component creates no space", "reason": "Forbidden" },
                {
                    "expression": format!("object.spec == oldObject.spec && {} && {} && {others_kept}", same("labels"), same("finalizers")),
                    "message": format!("the wake component changes nothing of a space but metadata.annotations[{key}]"),
                    "reason": "Forbidden"
                }
            ]
        }),
    )
}

pub fn wake_binding() -> Result<ValidatingAdmissionPolicyBinding, serde_json::Error> {
    deny_binding(WAKE_POLICY_NAME, json!({}))
}

pub const CLASS_VERSION_POLICY_NAME: &str = "spaceclass-version-path.frama.space";

/// `major*1000000 + minor*1000 + patch` of a `major.minor.patch` string, in CEL.
fn cel_release(v: &str) -> String {
    format!("(int({v}.split('.')[0]) * 1000000 + int({v}.split('.')[1]) * 1000 + int({v}.split('.')[2]))")
}

/// A class's new `spec.nextcloud.version` against the releases its spaces run, which the
/// operator keeps in the class's `status.rollout` (oldest, newest): never below the newest
/// (Nextcloud cannot be downgraded), never more than one major above the oldest (Nextcloud's
/// `Updater::isUpgradePossible` refuses to skip a major). The CRD's own rules compare with the
/// version replaced; these compare with what runs.
pub fn class_version_policy() -> Result<ValidatingAdmissionPolicy, serde_json::Error> {
    let new = "object.spec.nextcloud.version";
    let rollout = "oldObject.status.rollout";
    let has = |field: &str| format!("has(oldObject.status) && has({rollout}) && has({rollout}.{field})");
    serde_json::from_value(json!({
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingAdmissionPolicy",
        "metadata": metadata(CLASS_VERSION_POLICY_NAME),
        "spec": {
            "failurePolicy": "Fail",
            "matchConstraints": { "resourceRules": [{
                "apiGroups": ["frama.space"], "apiVersions": ["v1alpha1"], "operations": ["UPDATE"], "resources": ["spaceclasses"]
            }]},
            "matchConditions": [{ "name": "version-changed", "expression": format!("{new} != oldObject.spec.nextcloud.version") }],
            "validations": [
                {
                    "expression": format!("!({}) || {} >= {}", has("newestVersion"), cel_release(new), cel_release(&format!("{rollout}.newestVersion"))),
                    "messageExpression": format!("'spec.nextcloud.version ' + {new} + ' is below ' + {rollout}.newestVersion + ', which spaces of SpaceClass ' + object.metadata.name + ' already run: Nextcloud cannot be downgraded'"),
                    "reason": "Invalid"
                },
                {
                    "expression": format!("!({}) || int({new}.split('.')[0]) <= int({rollout}.oldestVersion.split('.')[0]) + 1", has("oldestVersion")),
                    "messageExpression": format!("'spec.nextcloud.version ' + {new} + ' skips a major: spaces of SpaceClass ' + object.metadata.name + ' still run ' + {rollout}.oldestVersion + '; move them to the latest ' + string(int({rollout}.oldestVersion.split('.')[0]) + 1) + '.x first'"),
                    "reason": "Invalid"
                }
            ]
        }
    }))
}

pub fn class_version_binding() -> Result<ValidatingAdmissionPolicyBinding, serde_json::Error> {
    deny_binding(CLASS_VERSION_POLICY_NAME, json!({}))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holding_a_space_back_asks_the_authorizer() {
        let spec = hold_upgrade_policy().expect("policy deserializes").spec.expect("spec");
        let rule = spec.validations.expect("validations")[0].expression.clone();
        assert!(rule.contains("check('hold-upgrade')"), "{rule}");
        let when = spec.match_conditions.expect("conditions")[0].expression.clone();
        assert!(when.contains("object.spec.holdUpgrade == true") && when.contains("oldObject"), "{when}");
        assert!(hold_upgrade_binding().is_ok());
    }

    #[test]
    fn the_reattach_policy_asks_the_authorizer() {
        let spec = reattach_policy().expect("policy deserializes").spec.expect("spec");
        let rule = &spec.validations.expect("validations")[0].expression;
        assert!(rule.contains("check('reattach')"), "{rule}");
        let when = &spec.match_conditions.expect("conditions")[0].expression;
        assert!(when.contains("frama.space/reattach-retained") && when.contains("oldObject"), "{when}");
        assert!(reattach_binding().is_ok());
    }

    #[test]
    fn policy_and_binding_are_valid_objects() {
        let policy = class_limits_policy().expect("policy deserializes");
        let binding = class_limits_binding().expect("binding deserializes");
        let spec = policy.spec.expect("spec");
        assert_eq!(spec.validations.map(|v| v.len()), Some(2));
        assert_eq!(binding.spec.and_then(|s| s.policy_name), Some(POLICY_NAME.to_string()));
    }
}
