//! The mapping-kit interpreter and the `@jmespath` extension.
