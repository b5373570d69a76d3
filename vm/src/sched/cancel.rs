//! Cancel scopes: the tree that cancellation travels down.
//!
//! Every task has a stack of scopes (its own, then each `nursery`,
//! `timeout` and `shield` block it is in), each the child of the one below
//! it; a spawned task's own scope is a child of its nursery's scope. Each
//! scope keeps its children, so cancelling one walks only its subtree and
//! wakes the tasks parked there, instead of scanning every task of the
//! program. A shield stops the walk; so does a scope already cancelled,
//! whose parked tasks were woken when it was. Each scope also caches the
//! outermost cancelled scope that reaches it (`reached_by`), so a
//! checkpoint is one look-up, not a walk up a chain that deep spawn/join
//! recursion makes as long as the recursion.

use super::{OptId, Resume, Scheduler, ScopeId, State, TaskId, TimerKey, TimerKind};
use crate::error::Throw;
use crate::heap::Heap;

/// No scope: the end of a sibling list.
const NONE: ScopeId = ScopeId::MAX;

pub struct Scope {
    /// The scope it is inside; none for a root.
    parent: OptId,
    /// The task whose scope stack holds it.
    pub task: TaskId,
    /// Scopes opened inside it, in this task or in tasks spawned into it:
    /// the first, then each one's next sibling (a list threaded through
    /// the scopes, so a leaf scope costs no allocation).
    first_child: ScopeId,
    last_child: ScopeId,
    next_sibling: ScopeId,
    prev_sibling: ScopeId,
    /// Cancelled, by `cancel()`, a failing sibling or its deadline.
    pub cancelled: bool,
    /// A `shield` block: cancellation from outside stops here.
    pub shield: bool,
    /// The outermost cancelled scope between this one and the nearest
    /// shield (or the root), this one included: what a task whose
    /// innermost scope this is must raise `Cancelled` for. Kept up to date
    /// on creation, cancellation and orphaning, so a checkpoint costs one
    /// look-up however deep the scope tree.
    reached_by: OptId,
    /// For `timeout`: whether its deadline passed.
    pub expired: bool,
    /// For `timeout`: the pending deadline.
    deadline: Option<TimerKey>,
    /// For a `nursery` block: its bookkeeping, where objects tied to the
    /// block go (`owned.rs`).
    nursery: OptId,
}

// Every live task has its own scope.
const _: () = assert!(std::mem::size_of::<Option<Scope>>() <= 44);

impl Scope {
    /// The scope it is inside; none for a root.
    pub fn parent(&self) -> Option<ScopeId> {
        self.parent.get()
    }

    /// For a `nursery` block's scope: the nursery.
    pub fn nursery(&self) -> Option<super::NurseryId> {
        self.nursery.get()
    }

    /// Makes it the scope of nursery `id`.
    pub(crate) fn set_nursery(&mut self, id: super::NurseryId) {
        self.nursery = Some(id).into();
    }
}

/// A task's cancel scopes, innermost last: its own, which it has for its
/// whole life, then those it entered. The own scope and the first entered
/// are held inline, so a task that enters none, or one at a time (a
/// `timeout` around a call), allocates nothing for them; deeper ones go in
/// a boxed vector, kept for the task's life. Sixteen bytes in every task's
/// record, where a `Vec` would take twenty-eight.
pub struct ScopeStack {
    own: ScopeId,
    /// The outermost scope it entered, `NONE` while it is in none.
    first: ScopeId,
    /// The scopes entered inside `first`, outermost first: empty, or
    /// without a box, while `first` is the innermost. Boxed, so that the
    /// field is one word in every record, and only a task that nests two
    /// blocks pays the second allocation.
    #[allow(clippy::box_collection)]
    deeper: Option<Box<Vec<ScopeId>>>,
}

// Every live task has one, in its record.
const _: () = assert!(std::mem::size_of::<ScopeStack>() <= 16);

impl ScopeStack {
    /// The stack of a task whose own scope is `own`.
    pub fn new(own: ScopeId) -> ScopeStack {
        ScopeStack { own, first: NONE, deeper: None }
    }

    /// The task's own scope: cancelling it cancels the task.
    pub fn own(&self) -> ScopeId {
        self.own
    }

    /// The innermost scope.
    pub fn innermost(&self) -> ScopeId {
        match self.deeper.as_ref().and_then(|d| d.last()) {
            Some(&scope) => scope,
            None if self.first != NONE => self.first,
            None => self.own,
        }
    }

    /// Enters `scope`, inside the innermost.
    pub fn push(&mut self, scope: ScopeId) {
        if self.first == NONE {
            self.first = scope;
        } else {
            self.deeper.get_or_insert_default().push(scope);
        }
    }

    /// Leaves the innermost scope, unless it is the task's own.
    pub fn pop(&mut self) -> Option<ScopeId> {
        if let Some(scope) = self.deeper.as_mut().and_then(|d| d.pop()) {
            return Some(scope);
        }
        let first = std::mem::replace(&mut self.first, NONE);
        (first != NONE).then_some(first)
    }

    /// Every scope, outermost first.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = ScopeId> + '_ {
        let first = (self.first != NONE).then_some(self.first);
        let deeper = self.deeper.iter().flat_map(|d| d.iter().copied());
        std::iter::once(self.own).chain(first).chain(deeper)
    }

    /// Bytes held outside the stack itself.
    pub fn heap_bytes(&self) -> usize {
        self.deeper
            .as_ref()
            .map_or(0, |d| std::mem::size_of::<Vec<ScopeId>>() + d.capacity() * std::mem::size_of::<ScopeId>())
    }
}

impl Scheduler {
    /// Makes a scope of task `task` inside `parent`.
    pub(crate) fn new_scope(&mut self, task: TaskId, parent: Option<ScopeId>, shield: bool) -> ScopeId {
        // Appended, so that cancellation wakes tasks in the order they
        // were spawned.
        let prev_sibling = parent.and_then(|p| self.scopes.get(p)).map_or(NONE, |p| p.last_child);
        let reached_by =
            if shield { None } else { parent.and_then(|p| self.scopes.get(p)).and_then(|p| p.reached_by.get()) };
        let id = self.scopes.insert(Scope {
            parent: parent.into(),
            task,
            first_child: NONE,
            last_child: NONE,
            next_sibling: NONE,
            prev_sibling,
            cancelled: false,
            shield,
            reached_by: reached_by.into(),
            expired: false,
            deadline: None,
            nursery: OptId::NONE,
        });
        if let Some(prev) = self.scopes.get_mut(prev_sibling) {
            prev.next_sibling = id;
        }
        if let Some(p) = parent.and_then(|p| self.scopes.get_mut(p)) {
            if p.first_child == NONE {
                p.first_child = id;
            }
            p.last_child = id;
        }
        id
    }

    /// Removes a scope from the tree, with its deadline.
    pub(crate) fn remove_scope(&mut self, id: ScopeId) -> Option<Scope> {
        let scope = self.scopes.remove(id)?;
        if let Some(key) = scope.deadline {
            self.timers.cancel(key);
        }
        match self.scopes.get_mut(scope.prev_sibling) {
            Some(prev) => prev.next_sibling = scope.next_sibling,
            None => {
                if let Some(parent) = scope.parent().and_then(|p| self.scopes.get_mut(p)) {
                    parent.first_child = scope.next_sibling;
                }
            }
        }
        match self.scopes.get_mut(scope.next_sibling) {
            Some(next) => next.prev_sibling = scope.prev_sibling,
            None => {
                if let Some(parent) = scope.parent().and_then(|p| self.scopes.get_mut(p)) {
                    parent.last_child = scope.prev_sibling;
                }
            }
        }
        // Children outlive their parent only when a task ends with an open
        // nursery (its run failed): they become roots.
        let mut child = scope.first_child;
        while let Some(c) = self.scopes.get_mut(child) {
            c.parent = OptId::NONE;
            let next = c.next_sibling;
            self.refresh_reach(child);
            child = next;
        }
        Some(scope)
    }

    /// The scopes directly inside `id`.
    fn children(&self, id: ScopeId) -> impl Iterator<Item = ScopeId> + '_ {
        let first = self.scopes.get(id).map_or(NONE, |s| s.first_child);
        std::iter::successors(Some(first).filter(|&c| c != NONE), move |&c| {
            self.scopes.get(c).map(|s| s.next_sibling).filter(|&n| n != NONE)
        })
    }

    /// The innermost scope of task `id`.
    pub fn scope_of(&self, id: TaskId) -> ScopeId {
        self.meta(id).scopes.innermost()
    }

    /// The outermost cancelled scope that reaches task `id`, if any: the
    /// scope that absorbs the `Cancelled` it must raise.
    /// A task without a record yet (see [`super::DETACHED`]) has no scope
    /// that anything could have cancelled.
    pub fn cancelled(&self, id: TaskId) -> Option<ScopeId> {
        let scope = self.tasks.get(id)?.scopes.innermost();
        self.scopes.get(scope).and_then(|s| s.reached_by.get())
    }

    /// Recomputes `reached_by` for `scope` from its parent, and for its
    /// subtree as far as it changes (a child whose value stays the same
    /// keeps its subtree's).
    fn refresh_reach(&mut self, scope: ScopeId) {
        let mut todo = vec![scope];
        while let Some(s) = todo.pop() {
            let Some(sc) = self.scopes.get(s) else { continue };
            let own = sc.cancelled.then_some(s);
            let above = match sc.parent() {
                Some(p) if !sc.shield => self.scopes.get(p).and_then(|p| p.reached_by.get()),
                _ => None,
            };
            let reach = OptId::from(above.or(own));
            if reach == sc.reached_by && s != scope {
                continue;
            }
            if let Some(sc) = self.scopes.get_mut(s) {
                sc.reached_by = reach;
            }
            todo.extend(self.children(s));
        }
    }

    /// Cancels a scope: every task inside it that is parked raises
    /// `Cancelled` now; running ones at their next checkpoint. Costs the
    /// size of the scope's subtree.
    pub fn cancel(&mut self, heap: &mut Heap, scope: ScopeId) {
        self.cancel_subtree(heap, scope);
    }

    /// [`Scheduler::cancel`], returning how many scopes it visited.
    fn cancel_subtree(&mut self, heap: &mut Heap, scope: ScopeId) -> usize {
        match self.scopes.get_mut(scope) {
            Some(s) if !s.cancelled => {
                s.cancelled = true;
                if let Some(key) = s.deadline.take() {
                    self.timers.cancel(key);
                }
            }
            _ => return 0,
        }
        self.refresh_reach(scope);
        let mut parked = Vec::new();
        // Breadth first, so tasks wake in the order they were spawned.
        let mut todo = std::collections::VecDeque::from([scope]);
        let mut visited = 0;
        while let Some(s) = todo.pop_front() {
            visited += 1;
            let Some(sc) = self.scopes.get(s) else { continue };
            // A task is met once: at its innermost scope.
            if let Some(meta) = self.tasks.get(sc.task) {
                if meta.scopes.innermost() == s && meta.state == State::Parked && !meta.waits_for_nursery() {
                    parked.push((sc.task, meta.token));
                }
            }
            let scopes = &self.scopes;
            todo.extend(self.children(s).filter(|&c| scopes.get(c).is_some_and(|c| !c.shield && !c.cancelled)));
        }
        for (id, token) in parked {
            if let Some(absorber) = self.cancelled(id) {
                self.wake(heap, id, token, Resume::raise(Throw::Cancelled(Some(absorber))));
            }
        }
        visited
    }

    /// Opens a cancel scope in the running task.
    pub fn push_scope(&mut self, shield: bool) -> ScopeId {
        self.attach();
        let id = self.current;
        let parent = self.scope_of(id);
        let scope = self.new_scope(id, Some(parent), shield);
        self.meta_mut(id).scopes.push(scope);
        scope
    }

    /// Leaves the running task's innermost scope.
    pub fn pop_scope(&mut self) -> Option<(ScopeId, Scope)> {
        self.attach();
        let id = self.current;
        let meta = self.meta_mut(id);
        let scope = meta.scopes.pop()?;
        self.remove_scope(scope).map(|s| (scope, s))
    }

    /// Cancels `scope` after `seconds`.
    pub fn set_deadline(&mut self, scope: ScopeId, seconds: f64) {
        let at = self.clock.nanos().saturating_add(super::timer::delay_nanos(seconds));
        let key = self.timers.add(at, TimerKind::Deadline { scope });
        if let Some(s) = self.scopes.get_mut(scope) {
            s.deadline = Some(key);
        }
    }

    /// A `timeout` scope's deadline came.
    pub(super) fn expire(&mut self, heap: &mut Heap, scope: ScopeId) {
        if let Some(s) = self.scopes.get_mut(scope) {
            s.deadline = None;
            s.expired = true;
            self.cancel(heap, scope);
        }
    }

    /// Cancels task `id` through its own scope.
    pub fn cancel_task(&mut self, heap: &mut Heap, id: TaskId) {
        if let Some(scope) = self.tasks.get(id).map(|m| m.scopes.own()) {
            self.cancel(heap, scope);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::task::Task;

    /// A scheduler whose main task has a nursery with `idle` parked tasks
    /// in it, and a `timeout` scope beside the nursery.
    fn with_idle_tasks(idle: usize) -> (Scheduler, ScopeId, ScopeId) {
        let mut sched = Scheduler::new(Some(0), true);
        let main = sched.add_task(Box::new(Task::new()), None, None);
        sched.current = main;
        let nursery = sched.push_scope(false);
        for _ in 0..idle {
            let id = sched.add_task(Box::new(Task::new()), Some(nursery), None);
            sched.meta_mut(id).state = State::Parked;
        }
        // The timeout opens inside the nursery's sibling position: a scope
        // of the main task's own scope, not of the nursery.
        sched.current = main;
        let own = sched.meta(main).scopes.own();
        let timeout = sched.new_scope(main, Some(own), false);
        (sched, nursery, timeout)
    }

    #[test]
    fn a_scope_stack_enters_and_leaves_in_order_and_keeps_its_room() {
        let mut stack = ScopeStack::new(7);
        assert_eq!((stack.innermost(), stack.pop(), stack.heap_bytes()), (7, None, 0));
        for scope in 100..110 {
            stack.push(scope);
            assert_eq!(stack.innermost(), scope);
        }
        let all: Vec<ScopeId> = stack.iter().collect();
        assert_eq!(all, [7].into_iter().chain(100..110).collect::<Vec<_>>());
        let room = stack.heap_bytes();
        assert!(room >= 9 * std::mem::size_of::<ScopeId>());
        for scope in (100..110).rev() {
            assert_eq!(stack.pop(), Some(scope));
        }
        assert_eq!((stack.pop(), stack.innermost(), stack.iter().count()), (None, 7, 1));
        // Entering again reuses the room: a loop of blocks does not grow it.
        stack.push(1);
        assert_eq!((stack.innermost(), stack.pop(), stack.innermost()), (1, Some(1), 7));
        for _ in 0..1000 {
            stack.push(1);
            stack.push(2);
            assert_eq!((stack.pop(), stack.pop()), (Some(2), Some(1)));
        }
        assert_eq!(stack.heap_bytes(), room);
    }

    #[test]
    fn cancel_visits_only_the_cancelled_subtree() {
        let mut heap = Heap::new();
        let idle = if cfg!(miri) { 200 } else { 10_000 };
        let (mut sched, nursery, timeout) = with_idle_tasks(idle);
        assert_eq!(sched.cancel_subtree(&mut heap, timeout), 1);
        assert_eq!(sched.runq.len(), idle + 1, "no idle task was woken");
        assert_eq!(sched.cancel_subtree(&mut heap, nursery), idle + 1);
        assert_eq!(sched.runq.len(), 2 * idle + 1, "every idle task was woken");
        assert_eq!(sched.cancel_subtree(&mut heap, nursery), 0, "cancelling twice does nothing");
    }

    /// What `reached_by` caches, found the slow way: up the parents to the
    /// nearest shield, keeping the outermost cancelled scope.
    fn reach_by_walk(sched: &Scheduler, from: ScopeId) -> Option<ScopeId> {
        let (mut scope, mut found) = (Some(from), None);
        while let Some(sc) = scope.and_then(|s| sched.scopes.get(s)) {
            if sc.cancelled {
                found = scope;
            }
            if sc.shield {
                break;
            }
            scope = sc.parent();
        }
        found
    }

    #[test]
    fn the_cached_reach_of_every_scope_is_the_walks() {
        let mut heap = Heap::new();
        let mut rng = super::super::SplitMix64::new(7);
        for round in 0..if cfg!(miri) { 3 } else { 40 } {
            let mut sched = Scheduler::new(Some(round), true);
            let root = sched.new_scope(0, None, false);
            let mut live = vec![root];
            for _ in 0..200 {
                let pick = live[rng.below(live.len() as u64) as usize];
                match rng.below(10) {
                    0..=5 => live.push(sched.new_scope(0, Some(pick), rng.below(5) == 0)),
                    6..=7 => sched.cancel(&mut heap, pick),
                    _ if pick != root => {
                        // Removing an inner scope orphans its children.
                        sched.remove_scope(pick);
                        live.retain(|&s| s != pick);
                    }
                    _ => {}
                }
                for &s in &live {
                    assert_eq!(sched.scopes.get(s).and_then(|x| x.reached_by.get()), reach_by_walk(&sched, s));
                }
            }
        }
    }

    #[test]
    fn removed_scopes_leave_their_parent() {
        let (mut sched, nursery, _) = with_idle_tasks(4);
        let children: Vec<ScopeId> = sched.children(nursery).collect();
        assert_eq!(children.len(), 4);
        // The first, a middle one and the last of the list.
        for gone in [children[0], children[2], children[3]] {
            sched.remove_scope(gone);
        }
        assert_eq!(sched.children(nursery).collect::<Vec<_>>(), [children[1]]);
        sched.remove_scope(children[1]);
        assert_eq!(sched.children(nursery).count(), 0);
        // New children go at the end, after what is left.
        let (mut sched, nursery, _) = with_idle_tasks(3);
        let before: Vec<ScopeId> = sched.children(nursery).collect();
        sched.remove_scope(before[2]);
        let task = sched.scopes.get(before[0]).map(|s| s.task).expect("open");
        let added = sched.new_scope(task, Some(nursery), false);
        assert_eq!(sched.children(nursery).collect::<Vec<_>>(), [before[0], before[1], added]);
    }
}
