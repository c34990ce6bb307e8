//! Memory mappings that outlive the instance they were made for.
//!
//! Without an instance pool, wasmtime maps a fiber stack and a linear
//! memory for every new instance and unmaps them when it is dropped. Every
//! spawn, wake from hibernation, hibernation and restart then pays for
//! several system calls that take the process's memory-map lock (which
//! page faults and spawns on other threads wait for), and every unmapping
//! makes the kernel interrupt the other CPUs running the process to flush
//! their TLBs. [`stacks`](crate::sandbox::stacks) and [`memories`](crate::sandbox::memories)
//! instead keep up to [`KEEP`] of each from dropped instances and hand them
//! to new ones. A [`Region`] is one such mapping.

use std::ops::Range;

use parking_lot::Mutex;

/// Mappings of each kind (stacks, memories) kept for reuse at most. A kept
/// mapping costs its address space, its page tables and what it still has
/// resident (a stack keeps the pages guests touched; a memory none); 256
/// covers bursts of spawns and wakes without holding on to much.
pub(crate) const KEEP: usize = 256;

/// Mappings given back by dropped instances, waiting to be handed out
/// again; at most [`KEEP`].
#[derive(Debug)]
pub(crate) struct Kept<T> {
    free: Mutex<Vec<T>>,
}

impl<T> Default for Kept<T> {
    fn default() -> Self {
        Kept {
            free: Mutex::new(Vec::new()),
        }
    }
}

impl<T> Kept<T> {
    /// The most recently given back of those that `fit`.
    pub(crate) fn take(&self, fits: impl Fn(&T) -> bool) -> Option<T> {
        let mut free = self.free.lock();
        let at = free.iter().rposition(fits);
        at.map(|i| free.swap_remove(i))
    }

    /// Keeps `it` for later, unless [`KEEP`] are kept already; then it is
    /// dropped (unmapped), outside the lock.
    pub(crate) fn give_back(&self, it: T) {
        let mut free = self.free.lock();
        if free.len() < KEEP {
            free.push(it);
        } else {
            drop(free);
            drop(it);
        }
    }

    /// As [`give_back`](Self::give_back), but readies `it` with `prepare`
    /// first, outside the lock, and only when there is room for it: one
    /// that would be dropped anyway is not readied for nothing. One that
    /// `prepare` cannot ready is dropped.
    pub(crate) fn give_back_readied(&self, it: T, prepare: impl FnOnce(&T) -> bool) {
        if self.free.lock().len() >= KEEP || !prepare(&it) {
            return;
        }
        self.give_back(it);
    }

    /// How many are kept.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.free.lock().len()
    }
}

/// One private anonymous mapping, unmapped when dropped.
#[derive(Debug)]
pub(crate) struct Region {
    base: usize,
    len: usize,
}

impl Region {
    /// Maps `len` bytes (a multiple of the page size) with protection
    /// `prot` (`PROT_NONE` reserves address space only).
    pub(crate) fn map(len: usize, prot: libc::c_int) -> std::io::Result<Region> {
        // SAFETY: a new private anonymous mapping; nothing else refers to it.
        let base = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                prot,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if base == libc::MAP_FAILED {
            return Err(std::io::Error::last_os_error());
        }
        Ok(Region {
            base: base as usize,
            len,
        })
    }

    /// The first byte's address.
    pub(crate) fn base(&self) -> usize {
        self.base
    }

    /// Length in bytes.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Sets the protection of the bytes at offsets `at` (page-aligned).
    pub(crate) fn protect(&self, at: Range<usize>, prot: libc::c_int) -> std::io::Result<()> {
        let (start, len) = self.span(at);
        // SAFETY: a page-aligned range inside this mapping, which nothing
        // else owns.
        if unsafe { libc::mprotect(start, len, prot) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(())
    }

    /// Gives the pages at offsets `at` back to the kernel: they read as
    /// zero on the next touch. Takes the memory-map lock only for reading.
    pub(crate) fn discard(&self, at: Range<usize>) -> std::io::Result<()> {
        let (start, len) = self.span(at);
        // SAFETY: as for `protect`; the caller no longer needs the contents.
        if unsafe { libc::madvise(start, len, libc::MADV_DONTNEED) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(())
    }

    fn span(&self, at: Range<usize>) -> (*mut libc::c_void, usize) {
        debug_assert!(
            at.start <= at.end && at.end <= self.len,
            "{at:?} outside a {}-byte region",
            self.len
        );
        ((self.base + at.start) as *mut libc::c_void, at.end - at.start)
    }
}

impl Drop for Region {
    fn drop(&mut self) {
        // SAFETY: the mapping this region made; whoever used it let go.
        unsafe { libc::munmap(self.base as *mut libc::c_void, self.len) };
    }
}

/// The system's page size.
pub(crate) fn page_size() -> usize {
    // SAFETY: sysconf has no preconditions.
    let n = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    usize::try_from(n).unwrap_or(4096).max(4096)
}

/// `n` rounded up to a multiple of `page`.
pub(crate) fn round_up(n: usize, page: usize) -> Option<usize> {
    n.checked_next_multiple_of(page)
}
