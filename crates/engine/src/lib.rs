//! The pure core of encharge-actions: FQL triggers, the mapping-kit interpreter
//! (plus JMESPath), the seven Encharge actions and request planning.
//!
//! Nothing here does I/O or async work: config text and events go in, compiled
//! subscriptions and planned requests come out.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod actions;
pub mod config;
pub mod js;
pub mod mapping;
mod plan;
mod suggest;
pub mod trigger;
pub mod workbench;

pub use plan::{Destination, EVENT_TYPES, EventError, PlanError, Planned, Subscription, check_event, run_action};
pub use suggest::did_you_mean;
