//! What the operator decides about every managed key: how long it may live and stay unused.
//! Read by the key service; set on the command line or in the environment.

/// Rules every managed key follows, set by the operator.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::Args)]
pub struct KeyPolicy {
    /// Longest a key may live, in days: a key must then be created (and configured) with an
    /// expiry no further away. Unset: keys may never expire.
    #[arg(long, env = "HOOP_API_KEY_MAX_LIFETIME_DAYS", value_parser = clap::value_parser!(u32).range(1..=36_500))]
    pub max_lifetime_days: Option<u32>,

    /// Deactivate an active key not used for this many days (a key never used counts from its
    /// creation); checked hourly. Unset: keys are never deactivated for disuse.
    #[arg(long, env = "HOOP_API_KEY_DEACTIVATE_UNUSED_DAYS", value_parser = clap::value_parser!(u32).range(1..=36_500))]
    pub deactivate_unused_days: Option<u32>,
}
