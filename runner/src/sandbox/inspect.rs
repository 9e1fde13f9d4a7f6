//! Looking at a component without running it, for `runner explain`.
//!
//! Guarantees: only compiles the component, under the caps of `compile.rs`;
//! nothing is instantiated, so no task code runs.

use super::LoadError;

/// The names of the component's imports (`wasi:cli/environment@0.2.3`, ...),
/// sorted.
pub fn imports(wasm: &[u8]) -> Result<Vec<String>, LoadError> {
    let engine = super::engine::engine()?;
    let component = super::compile::compile(&engine, wasm)?;
    let mut names: Vec<String> = component
        .component_type()
        .imports(&engine)
        .map(|(name, _)| name.to_owned())
        .collect();
    names.sort();
    Ok(names)
}

/// The interface through which a task asks for secrets and placeholders.
pub const SECRETS_INTERFACE: &str = "scopehold:task/secrets";

/// Whether a component with these imports can ask for a secret at all: one
/// that cannot is never failed by its agent's store or grants
/// ([`crate::broker::readiness`]).
pub fn asks_for_secrets<'a>(imports: impl IntoIterator<Item = &'a str>) -> bool {
    imports
        .into_iter()
        .any(|name| name.starts_with(SECRETS_INTERFACE))
}
