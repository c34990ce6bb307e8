//! Linear memories: each instance's WebAssembly memory, and the memories
//! of dropped instances kept for the next ones.
//!
//! A linear memory is one mapping: a guard region, the memory's
//! reservation (the part it may grow into without moving, several GiB by
//! default), and another guard region. Only the memory's current size is
//! accessible; everything else is mapped without access, so that an
//! access out of bounds faults (compiled guest code relies on that instead
//! of checking bounds).
//!
//! [`Memories`] keeps up to [`KEEP`](crate::sandbox::mappings::KEEP) memories of
//! dropped instances (see [`mappings`](crate::sandbox::mappings) for why) and hands
//! them to new instances. A memory given back has its accessible pages
//! discarded at once (`madvise(MADV_DONTNEED)`): they go back to the
//! kernel, a kept memory holds no resident pages, and the next instance
//! reads zeros, as wasmtime requires of a new memory. Only the guest's
//! data is discarded; the mapping, its guards and its page tables stay, so
//! handing it out again takes no system call when the new memory starts
//! at the same size.

use std::sync::Arc;

use wasmtime::{LinearMemory, MemoryCreator, MemoryType};

use crate::sandbox::mappings::{page_size, round_up, Kept, Region};

/// Linear memories given back, to be handed out again.
pub(crate) type Memories = Kept<Mapped>;

/// A memory's mapping: `guard` bytes, `reserved` bytes of which the first
/// `accessible` can be read and written, then `guard` bytes again.
#[derive(Debug)]
pub(crate) struct Mapped {
    region: Region,
    guard: usize,
    reserved: usize,
    accessible: usize,
}

impl Mapped {
    fn map(reserved: usize, guard: usize) -> Result<Mapped, String> {
        let len = guard
            .checked_mul(2)
            .and_then(|g| g.checked_add(reserved))
            .ok_or_else(|| {
                format!("a {reserved}-byte memory with {guard}-byte guards does not fit the address space")
            })?;
        let region = Region::map(len, libc::PROT_NONE)
            .map_err(|e| format!("cannot reserve {len} bytes of address space for a linear memory: {e}"))?;
        Ok(Mapped {
            region,
            guard,
            reserved,
            accessible: 0,
        })
    }

    /// Makes exactly the first `bytes` (page-aligned) of the memory
    /// accessible.
    fn set_accessible(&mut self, bytes: usize) -> std::io::Result<()> {
        let at = |n: usize| self.guard + n;
        if bytes > self.accessible {
            self.region
                .protect(at(self.accessible)..at(bytes), libc::PROT_READ | libc::PROT_WRITE)?;
        } else if bytes < self.accessible {
            self.region
                .protect(at(bytes)..at(self.accessible), libc::PROT_NONE)?;
        }
        self.accessible = bytes;
        Ok(())
    }

    /// Discards the guest's data: the accessible pages read as zero again.
    fn clear(&self) -> std::io::Result<()> {
        self.region.discard(self.guard..self.guard + self.accessible)
    }

    fn start(&self) -> *mut u8 {
        (self.region.base() + self.guard) as *mut u8
    }
}

/// A memory handed out; goes back to its [`Memories`] when wasmtime drops
/// it.
struct Memory {
    mapped: Option<Mapped>,
    /// The memory's size in bytes, as the guest sees it.
    size: usize,
    maximum: Option<usize>,
    page: usize,
    home: Arc<Memories>,
}

impl Memory {
    fn mapped(&self) -> &Mapped {
        match &self.mapped {
            Some(m) => m,
            None => unreachable!("a memory owns its mapping until dropped"),
        }
    }
}

impl Drop for Memory {
    fn drop(&mut self) {
        let Some(mapped) = self.mapped.take() else {
            return;
        };
        // Cleared before it is offered to anyone; one that cannot be
        // cleared, or finds no room, is unmapped instead.
        self.home.give_back_readied(mapped, |m| m.clear().is_ok());
    }
}

// SAFETY: the mapping stays reserved for as long as the `Memory` lives and
// is handed to nobody else; its base never moves (growth stays inside the
// reservation); everything past the accessible bytes, and the guards on
// both sides, is mapped without access.
unsafe impl LinearMemory for Memory {
    fn byte_size(&self) -> usize {
        self.size
    }

    fn byte_capacity(&self) -> usize {
        self.mapped().reserved
    }

    fn grow_to(&mut self, new_size: usize) -> wasmtime::Result<()> {
        let reserved = self.mapped().reserved;
        if new_size > reserved || self.maximum.is_some_and(|max| new_size > max) {
            return Err(wasmtime::Error::msg(format!(
                "a linear memory cannot grow to {new_size} bytes: it may take at most {} bytes",
                self.maximum.unwrap_or(reserved).min(reserved)
            )));
        }
        let bytes = round_up(new_size, self.page).unwrap_or(reserved).min(reserved);
        let Some(mapped) = self.mapped.as_mut() else {
            unreachable!("a memory owns its mapping until dropped")
        };
        if bytes > mapped.accessible {
            mapped.set_accessible(bytes).map_err(|e| {
                wasmtime::Error::msg(format!("cannot grow a linear memory to {new_size} bytes: {e}"))
            })?;
        }
        self.size = new_size;
        Ok(())
    }

    fn as_ptr(&self) -> *mut u8 {
        self.mapped().start()
    }
}

/// The creator wasmtime calls for each new linear memory of an instance.
pub(crate) struct Creator(pub(crate) Arc<Memories>);

// SAFETY: every memory is zero-filled (fresh, or discarded when given
// back), reserves `reserved_size_in_bytes` so it never moves, and is
// followed (and preceded) by `guard_size_in_bytes` bytes without access.
unsafe impl MemoryCreator for Creator {
    fn new_memory(
        &self,
        _ty: MemoryType,
        minimum: usize,
        maximum: Option<usize>,
        reserved_size_in_bytes: Option<usize>,
        guard_size_in_bytes: usize,
    ) -> Result<Box<dyn LinearMemory>, String> {
        let page = page_size();
        let too_large = || format!("a linear memory of {minimum} bytes does not fit the address space");
        let wanted = round_up(minimum, page).ok_or_else(too_large)?;
        let reserved = round_up(reserved_size_in_bytes.unwrap_or(0), page)
            .ok_or_else(too_large)?
            .max(wanted);
        let guard = round_up(guard_size_in_bytes, page).ok_or_else(too_large)?;
        let kept = self.0.take(|m| m.reserved == reserved && m.guard == guard);
        let mut mapped = match kept {
            Some(m) => m,
            None => Mapped::map(reserved, guard)?,
        };
        mapped
            .set_accessible(wanted)
            .map_err(|e| format!("cannot make {wanted} bytes of a linear memory accessible: {e}"))?;
        Ok(Box::new(Memory {
            mapped: Some(mapped),
            size: minimum,
            maximum,
            page,
            home: self.0.clone(),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sandbox::mappings::KEEP;

    const PAGE: usize = 64 * 1024;
    const RESERVED: usize = 64 * PAGE;
    const GUARD: usize = 16 * PAGE;

    fn new(creator: &Creator, pages: usize) -> Box<dyn LinearMemory> {
        creator
            .new_memory(
                MemoryType::new(pages as u32, None),
                pages * PAGE,
                None,
                Some(RESERVED),
                GUARD,
            )
            .unwrap()
    }

    fn bytes(m: &dyn LinearMemory) -> &[u8] {
        // SAFETY: the accessible bytes of a live memory.
        unsafe { std::slice::from_raw_parts(m.as_ptr(), m.byte_size()) }
    }

    #[test]
    fn a_memory_given_back_is_handed_out_again_and_reads_as_zero() {
        let memories = Arc::new(Memories::default());
        let creator = Creator(memories.clone());
        let mut first = new(&creator, 2);
        let base = first.as_ptr();
        assert_eq!(first.byte_size(), 2 * PAGE);
        assert_eq!(first.byte_capacity(), RESERVED);
        // The guest writes all over it, growing it first.
        first.grow_to(3 * PAGE).unwrap();
        unsafe { std::ptr::write_bytes(first.as_ptr(), 0xAB, 3 * PAGE) };
        drop(first);
        assert_eq!(memories.len(), 1);

        let again = new(&creator, 2);
        assert_eq!(again.as_ptr(), base, "the memory given back is reused");
        assert_eq!(memories.len(), 0);
        assert_eq!(again.byte_size(), 2 * PAGE);
        assert!(
            bytes(&*again).iter().all(|&b| b == 0),
            "no byte of the earlier guest survives"
        );
    }

    #[test]
    fn growth_stays_in_place_up_to_the_reservation_and_the_maximum() {
        let creator = Creator(Arc::default());
        let mut m = creator
            .new_memory(
                MemoryType::new(1, Some(8)),
                PAGE,
                Some(8 * PAGE),
                Some(RESERVED),
                GUARD,
            )
            .unwrap();
        let base = m.as_ptr();
        m.grow_to(8 * PAGE).unwrap();
        assert_eq!(m.as_ptr(), base);
        assert!(bytes(&*m).iter().all(|&b| b == 0));
        assert!(m.grow_to(9 * PAGE).is_err(), "past the maximum");
        let mut unbounded = new(&creator, 1);
        assert!(
            unbounded.grow_to(RESERVED + PAGE).is_err(),
            "past the reservation"
        );
        assert_eq!(unbounded.byte_size(), PAGE);
    }

    /// The protection (`rw-p`, `---p`, ...) of the mapping holding
    /// `addr`, from the kernel's view of this process.
    fn protection(addr: usize) -> String {
        let maps = std::fs::read_to_string("/proc/self/maps").unwrap();
        maps.lines()
            .find_map(|l| {
                let (range, rest) = l.split_once(' ')?;
                let (a, b) = range.split_once('-')?;
                let (a, b) = (
                    usize::from_str_radix(a, 16).ok()?,
                    usize::from_str_radix(b, 16).ok()?,
                );
                (a <= addr && addr < b).then(|| rest[..4].to_string())
            })
            .unwrap()
    }

    #[test]
    fn only_the_accessible_bytes_can_be_touched() {
        let creator = Creator(Arc::default());
        let m = new(&creator, 1);
        let start = m.as_ptr() as usize;
        // Everything around the memory's bytes is mapped without access, so
        // that an access there faults.
        assert_eq!(protection(start), "rw-p");
        assert_eq!(protection(start + PAGE - 1), "rw-p");
        assert_eq!(protection(start + PAGE), "---p");
        assert_eq!(protection(start + RESERVED + GUARD - 1), "---p");
        assert_eq!(protection(start - 1), "---p");
        assert_eq!(protection(start - GUARD), "---p");
    }

    #[test]
    fn a_memory_that_shrank_in_between_is_narrowed_again() {
        let memories = Arc::new(Memories::default());
        let creator = Creator(memories.clone());
        let mut big = new(&creator, 1);
        big.grow_to(6 * PAGE).unwrap();
        let start = big.as_ptr() as usize;
        assert_eq!(protection(start + 5 * PAGE), "rw-p");
        drop(big);
        let small = new(&creator, 1);
        assert_eq!(small.as_ptr() as usize, start);
        assert_eq!(protection(start), "rw-p");
        assert_eq!(
            protection(start + PAGE),
            "---p",
            "the bytes past the new size have no access again"
        );
        assert_eq!(protection(start + 5 * PAGE), "---p");
    }

    #[test]
    fn no_more_than_keep_memories_are_kept() {
        let memories = Arc::new(Memories::default());
        let creator = Creator(memories.clone());
        let many: Vec<_> = (0..KEEP + 10).map(|_| new(&creator, 1)).collect();
        drop(many);
        assert_eq!(memories.len(), KEEP);
    }
}
