//! How many execs may run at once: on the whole gateway, and for one caller, so that one key
//! cannot take every thread and database connection. Over either limit an exec is refused at
//! once (429 with Retry-After) rather than queued behind work that may take its full timeout.

use super::job::ExecError;
use std::{
    collections::HashMap,
    sync::{Arc, Mutex, PoisonError},
};

pub struct Admission {
    inner: Arc<Inner>,
}

struct Inner {
    max_total: usize,
    max_per_caller: usize,
    running: Mutex<Running>,
}

#[derive(Default)]
struct Running {
    total: usize,
    /// Only callers with an exec in flight: the map is as small as the work.
    by_caller: HashMap<String, usize>,
}

/// One running exec; dropping it makes room for the next.
pub struct Ticket {
    inner: Arc<Inner>,
    caller: String,
}

impl Admission {
    pub fn new(max_total: usize, max_per_caller: usize) -> Self {
        Self {
            inner: Arc::new(Inner {
                max_total: max_total.max(1),
                max_per_caller: max_per_caller.max(1),
                running: Mutex::default(),
            }),
        }
    }

    pub fn enter(&self, caller: &str) -> Result<Ticket, ExecError> {
        let inner = &self.inner;
        let mut running = inner.running.lock().unwrap_or_else(PoisonError::into_inner);
        if running.total >= inner.max_total {
            return Err(ExecError::Busy(format!(
                "the gateway is running as many execs as it allows ({}, HOOP_EXEC_MAX_CONCURRENT): try again shortly",
                inner.max_total
            )));
        }
        let mine = running.by_caller.entry(caller.to_owned()).or_default();
        if *mine >= inner.max_per_caller {
            return Err(ExecError::Busy(format!(
                "you are running as many execs at once as a caller may ({}, HOOP_EXEC_MAX_PER_CALLER): try again when one ends",
                inner.max_per_caller
            )));
        }
        *mine += 1;
        running.total += 1;
        Ok(Ticket {
            inner: inner.clone(),
            caller: caller.to_owned(),
        })
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        let mut running = self
            .inner
            .running
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        running.total = running.total.saturating_sub(1);
        if let Some(mine) = running.by_caller.get_mut(&self.caller) {
            *mine -= 1;
            if *mine == 0 {
                running.by_caller.remove(&self.caller);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_per_caller_and_in_all_and_frees_on_drop() {
        let admission = Admission::new(3, 2);
        let a1 = admission.enter("a").unwrap();
        let _a2 = admission.enter("a").unwrap();
        assert!(
            matches!(admission.enter("a"), Err(ExecError::Busy(m)) if m.contains("PER_CALLER"))
        );
        let _b1 = admission.enter("b").unwrap();
        assert!(
            matches!(admission.enter("c"), Err(ExecError::Busy(m)) if m.contains("MAX_CONCURRENT"))
        );
        drop(a1);
        let _a3 = admission.enter("a").unwrap();
        assert_eq!(admission.inner.running.lock().unwrap().by_caller.len(), 2);
    }
}
