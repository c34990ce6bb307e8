//! The process layer: what a live actor is, apart from the code it runs.
//!
//! Owns the process table entry of an actor (`table`): its mailbox
//! (`mailbox`), the names it holds (`names`), its links, monitors and
//! restart policy ([`supervision`]), pools of workers behind one pid
//! (`pool`), and the spawn limits (`limits`).
//!
//! May use: [`core`](crate::core), [`sandbox`](crate::sandbox).

pub(crate) mod limits;
pub(crate) mod mailbox;
pub(crate) mod names;
pub(crate) mod pool;
pub mod supervision;
pub(crate) mod table;
