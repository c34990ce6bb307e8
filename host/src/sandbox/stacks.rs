//! Fiber stacks: every guest call runs on a stack of its own, and stacks
//! of instances that were dropped are kept for the next ones.
//!
//! Each live instance holds a fiber stack for its guest calls. [`Stacks`]
//! keeps up to [`KEEP`](crate::sandbox::mappings::KEEP) stacks of dropped instances
//! (see [`mappings`](crate::sandbox::mappings) for why) and hands them out again as
//! they are, pages already faulted in.
//!
//! A reused stack is not cleared: WebAssembly cannot read what an earlier
//! guest left on a native stack (its locals start zeroed, and its frames are
//! written before they are read), which is why wasmtime's own instance pool
//! does not clear stacks either unless asked. When wasmtime asks for a
//! zeroed stack, a fresh one is mapped.

use std::ops::Range;
use std::sync::Arc;

use wasmtime::{StackCreator, StackMemory};

use crate::sandbox::mappings::{page_size, Kept, Region};

/// Fiber stacks given back, to be handed out again.
pub(crate) type Stacks = Kept<Region>;

/// Maps a stack of `len` bytes: a guard page at the bottom, then the stack.
fn map_stack(len: usize, page: usize) -> wasmtime::Result<Region> {
    let region = Region::map(len, libc::PROT_READ | libc::PROT_WRITE)
        .map_err(|e| wasmtime::format_err!("cannot map a {len}-byte fiber stack: {e}"))?;
    region
        .protect(0..page, libc::PROT_NONE)
        .map_err(|e| wasmtime::format_err!("cannot protect a fiber stack's guard page: {e}"))?;
    Ok(region)
}

/// A stack handed out; goes back to its [`Stacks`] when wasmtime drops it.
struct Stack {
    region: Option<Region>,
    guard: usize,
    home: Arc<Stacks>,
}

impl Drop for Stack {
    fn drop(&mut self) {
        if let Some(region) = self.region.take() {
            self.home.give_back(region);
        }
    }
}

impl Stack {
    fn region(&self) -> &Region {
        match &self.region {
            Some(r) => r,
            None => unreachable!("a stack owns its region until dropped"),
        }
    }
}

// SAFETY: the region stays mapped, with its guard page protected, for as
// long as the `Stack` lives, and is handed to nobody else meanwhile.
unsafe impl StackMemory for Stack {
    fn top(&self) -> *mut u8 {
        let r = self.region();
        (r.base() + r.len()) as *mut u8
    }

    fn range(&self) -> Range<usize> {
        let r = self.region();
        r.base() + self.guard..r.base() + r.len()
    }

    fn guard_range(&self) -> Range<*mut u8> {
        let r = self.region();
        r.base() as *mut u8..(r.base() + self.guard) as *mut u8
    }
}

/// The creator wasmtime calls for each new stack.
pub(crate) struct Creator(pub(crate) Arc<Stacks>);

// SAFETY: every stack is page-aligned, has a protected guard page below it,
// and is zero-filled when `zeroed` is asked (a fresh anonymous mapping).
unsafe impl StackCreator for Creator {
    fn new_stack(&self, size: usize, zeroed: bool) -> wasmtime::Result<Box<dyn StackMemory>> {
        let page = page_size();
        let len = size.div_ceil(page) * page + page;
        let reused = if zeroed {
            None
        } else {
            self.0.take(|r| r.len() == len)
        };
        let region = match reused {
            Some(r) => r,
            None => map_stack(len, page)?,
        };
        Ok(Box::new(Stack {
            region: Some(region),
            guard: page,
            home: self.0.clone(),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sandbox::mappings::KEEP;

    #[test]
    fn a_stack_given_back_is_handed_out_again() {
        let stacks = Arc::new(Stacks::default());
        let creator = Creator(stacks.clone());
        let first = creator.new_stack(64 * 1024, false).unwrap();
        let top = first.top();
        // The stack is writable all the way down to its guard page.
        let range = first.range();
        unsafe {
            std::ptr::write_bytes(range.start as *mut u8, 7, range.end - range.start);
        }
        assert_eq!(first.guard_range().end as usize, range.start);
        drop(first);
        assert_eq!(stacks.len(), 1);
        let again = creator.new_stack(64 * 1024, false).unwrap();
        assert_eq!(again.top(), top, "the stack given back is reused");
        assert_eq!(stacks.len(), 0);
        // A zeroed stack is never a reused one.
        drop(again);
        let zeroed = creator.new_stack(64 * 1024, true).unwrap();
        assert_ne!(zeroed.top(), top);
        let r = zeroed.range();
        let bytes = unsafe { std::slice::from_raw_parts(r.start as *const u8, r.end - r.start) };
        assert!(bytes.iter().all(|&b| b == 0));
    }

    #[test]
    fn no_more_than_keep_stacks_are_kept() {
        let stacks = Arc::new(Stacks::default());
        let creator = Creator(stacks.clone());
        let many: Vec<_> = (0..KEEP + 10)
            .map(|_| creator.new_stack(16 * 1024, false).unwrap())
            .collect();
        drop(many);
        assert_eq!(stacks.len(), KEEP);
    }
}
