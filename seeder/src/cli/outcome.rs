//! How a command ends, which `main` turns into the exit status.

/// How a run ends, beyond plain success.
pub enum Outcome {
    Ok,
    InvariantsBroken,
    Interrupted,
}
