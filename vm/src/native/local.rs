//! Natives that are not `Send`: closures over an `Rc`, a `RefCell`, or a
//! library bound to one thread. Every other native is `Send + Sync`, so
//! that a VM may move between threads and loaded code may one day be
//! shared; a local native keeps that true by pinning itself to the thread
//! that registered it. On that thread it runs as any native does; on any
//! other, calling it is an error and dropping it leaks it, so its closure
//! never runs, and is never dropped, off its thread.

use super::{Ctx, NativeBody, NativeResult};
use crate::{Throw, Value};
use std::mem::ManuallyDrop;
use std::thread::ThreadId;

/// A closure usable only on the thread that made it.
struct Local<F> {
    owner: ThreadId,
    f: ManuallyDrop<F>,
}

// SAFETY: `f` is touched, called or dropped, only on `owner`, the thread
// that made it: `call` compares the current thread with `owner` before it
// borrows `f`, and `drop` drops `f` only on `owner` (elsewhere it is
// leaked). `owner` is private and set once, in `into_local`. So whatever
// `F` holds never crosses threads, and sharing or moving a `Local` moves
// only the right to be refused.
unsafe impl<F> Send for Local<F> {}
// SAFETY: as for `Send`: a `&Local` on another thread can reach `f` only
// through `call`, which refuses it there.
unsafe impl<F> Sync for Local<F> {}

impl<F: Fn(&mut Ctx, &[Value]) -> NativeResult> Local<F> {
    fn call(&self, cx: &mut Ctx, args: &[Value]) -> NativeResult {
        if std::thread::current().id() != self.owner {
            let message =
                format!("{} was registered with register_local on another thread, and runs only there", cx.name());
            return Err(Throw::new("ThreadError", message).into());
        }
        (self.f)(cx, args)
    }
}

impl<F> Drop for Local<F> {
    fn drop(&mut self) {
        if std::thread::current().id() == self.owner {
            // SAFETY: dropped once, here, on its own thread; `f` is not
            // used again.
            unsafe { ManuallyDrop::drop(&mut self.f) }
        }
    }
}

/// The body of a native that runs only on the calling thread.
pub(crate) fn into_local<F>(f: F) -> Box<NativeBody>
where
    F: Fn(&mut Ctx, &[Value]) -> NativeResult + 'static,
{
    let local = Local { owner: std::thread::current().id(), f: ManuallyDrop::new(f) };
    Box::new(move |cx: &mut Ctx, args: &[Value]| local.call(cx, args))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::rc::Rc;

    #[test]
    fn dropped_on_its_thread_it_drops_and_elsewhere_it_leaks() {
        let shared = Rc::new(());
        let held = shared.clone();
        drop(into_local(move |_: &mut Ctx, _: &[Value]| Ok(Value::Int(Rc::strong_count(&held) as i64))));
        assert_eq!(Rc::strong_count(&shared), 1);

        let held = shared.clone();
        let body = into_local(move |_: &mut Ctx, _: &[Value]| Ok(Value::Int(Rc::strong_count(&held) as i64)));
        std::thread::spawn(move || drop(body)).join().unwrap();
        assert_eq!(Rc::strong_count(&shared), 2);
        // SAFETY: the leaked clone is never used again (its closure is
        // gone): giving its count back frees the Rc, so Miri sees no leak.
        unsafe { Rc::decrement_strong_count(Rc::as_ptr(&shared)) };
    }
}
