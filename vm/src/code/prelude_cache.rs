//! Compiled preludes, kept for the process. Every VM made the same way
//! loads the same prelude into the same global environment, and parsing and
//! compiling it is nearly all the cost of making a VM; so the first VM
//! compiles it (or decodes the snapshot a host gave, see
//! `Vm::load_prelude_with`), and the others, finding the same text and an
//! equal environment, take the compiled code and the names it declared.
//! Each VM still links the code into its own heap; the code was checked
//! once, before it was kept.

use crate::code::load::CheckedUnit;
use std::sync::{Arc, Mutex};
use weft_lang::compile::{Env, EnvChanges, FileScope};

/// A prelude compiled once: the text and the environment it was compiled
/// in, and what compiling it gave.
pub(crate) struct Compiled {
    text: String,
    pub(crate) before: Env,
    /// What compiling it added to the environment: the prelude's names.
    pub(crate) changes: EnvChanges,
    /// The prelude's top-level names.
    pub(crate) scope: FileScope,
    pub(crate) unit: CheckedUnit,
}

/// How many compiled preludes the process keeps, newest first: one per
/// way of making a VM (the standard library with and without a host's
/// own natives registered before it, say). Beyond that the oldest goes.
const KEPT: usize = 4;

static CACHE: Mutex<Vec<Arc<Compiled>>> = Mutex::new(Vec::new());

/// The prelude `text` compiled in an environment equal to `env`, if kept.
pub(crate) fn find(text: &str, env: &Env) -> Option<Arc<Compiled>> {
    // A panic elsewhere while the lock was held leaves only whole entries.
    let cache = CACHE.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    cache.iter().find(|c| c.text == text && c.before == *env).cloned()
}

/// Keeps `unit`, compiled from `text` in environment `before`, which
/// compiling it turned into `after`.
pub(crate) fn keep(text: &str, before: Env, after: &Env, scope: FileScope, unit: CheckedUnit) -> Arc<Compiled> {
    let changes = after.changes_since(&before);
    keep_changes(text, before, changes, scope, unit)
}

/// Keeps `unit`, compiled from `text` in environment `before`, which
/// compiling it changed by `changes`.
pub(crate) fn keep_changes(
    text: &str,
    before: Env,
    changes: EnvChanges,
    scope: FileScope,
    unit: CheckedUnit,
) -> Arc<Compiled> {
    let compiled = Arc::new(Compiled { text: text.to_string(), before, changes, scope, unit });
    let mut cache = CACHE.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    cache.insert(0, compiled.clone());
    cache.truncate(KEPT);
    compiled
}

impl Compiled {
    /// It as a snapshot (see `weft_lang::snapshot`).
    pub(crate) fn encode(&self) -> Vec<u8> {
        weft_lang::snapshot::encode(&self.text, &self.before, &self.changes, &self.scope, self.unit.unit())
    }
}

#[cfg(test)]
mod tests {
    use crate::{TypeTag, Value, Vm};

    /// A prelude that calls a host native: its global slot is the one the
    /// environment gave `triple`, which natives registered before move.
    const TEXT: &str = "# the cache's own test prelude\nfn list_tripled(xs) { return triple(xs[0]) }\n";
    const METHODS: &[(TypeTag, &str, &str)] = &[(TypeTag::List, "tripled", "list_tripled")];

    fn vm_after(natives: &[&str]) -> Vm {
        let mut vm = Vm::new();
        for name in natives {
            vm.register(name, |x: i64| x);
        }
        vm.register("triple", |x: i64| 3 * x);
        vm
    }

    #[test]
    fn a_prelude_is_compiled_once_per_environment() {
        let mut first = vm_after(&[]);
        assert!(super::find(TEXT, &first.env).is_none(), "nothing kept before the first load");
        first.load_prelude(TEXT, METHODS).unwrap();

        let mut same = vm_after(&[]);
        assert!(super::find(TEXT, &same.env).is_some(), "a VM made the same way finds it");
        same.load_prelude(TEXT, METHODS).unwrap();

        let mut other = vm_after(&["shifts", "the", "slots"]);
        assert!(super::find(TEXT, &other.env).is_none(), "another environment does not");
        other.load_prelude(TEXT, METHODS).unwrap();
        assert!(super::find(TEXT, &other.env).is_none(), "the environment now has the prelude's names");

        for vm in [&mut first, &mut same, &mut other] {
            assert!(matches!(vm.eval("<test>", "[5].tripled()").unwrap(), Value::Int(15)));
        }
        // Another text is another entry.
        let mut changed = vm_after(&[]);
        assert!(super::find(&format!("{TEXT}\n"), &changed.env).is_none());
        changed.load_prelude(&format!("{TEXT}\n"), METHODS).unwrap();
        assert!(matches!(changed.eval("<test>", "[7].tripled()").unwrap(), Value::Int(21)));
    }

    #[test]
    fn a_snapshot_stands_for_compiling_in_the_same_environment_only() {
        // A snapshot of one text's code, forged to claim another text,
        // shows which was run: the snapshot's code, or the text compiled.
        let text = |n: i64| format!("# the snapshot test's prelude\nfn list_probe(xs) {{ return {n} }}\n");
        let methods = &[(TypeTag::List, "probe", "list_probe")];
        let probe = |vm: &mut Vm| match vm.eval("<test>", "[].probe()").unwrap() {
            Value::Int(n) => n,
            other => panic!("probe gave {other:?}"),
        };
        let mut first = vm_after(&[]);
        first.load_prelude(&text(1), methods).unwrap();
        let compiled = first.prelude.clone().expect("loaded");
        let forged = weft_lang::snapshot::encode(
            &text(2),
            &compiled.before,
            &compiled.changes,
            &compiled.scope,
            compiled.unit.unit(),
        );
        assert_eq!(first.prelude_snapshot(), Some(compiled.encode()));

        let mut same = vm_after(&[]);
        same.load_prelude_with(&text(2), methods, &forged).unwrap();
        assert_eq!(probe(&mut same), 1, "the same environment takes the snapshot");
        let mut again = vm_after(&[]);
        again.load_prelude(&text(2), methods).unwrap();
        assert_eq!(probe(&mut again), 1, "and keeps it for the process");

        let mut other = vm_after(&["shifts", "the", "slots"]);
        other.load_prelude_with(&text(2), methods, &forged).unwrap();
        assert_eq!(probe(&mut other), 2, "another environment compiles the text");
        let mut damaged = vm_after(&[]);
        damaged.load_prelude_with(&text(3), methods, &forged[..forged.len() - 1]).unwrap();
        assert_eq!(probe(&mut damaged), 3, "another text or damaged bytes: the text compiled");
    }
}
