//! Step "resolve": the space's class, and its spec with the class's defaults and limits applied.
//! Pure; a spec the class refuses (or a missing class) stops the pipeline before anything that
//! runs is touched, and only shows in status.

use std::sync::Arc;

use crate::api::{AssociationSpace, SpaceClass};
use crate::render::resolve::{self, ResolvedSpace, SpecError};

pub fn step(space: &AssociationSpace, classes: &[Arc<SpaceClass>]) -> Result<ResolvedSpace, SpecError> {
    resolve::choose_class(space, classes).and_then(|class| resolve::resolve(space, class))
}
