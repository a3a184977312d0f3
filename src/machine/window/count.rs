//! The count window: the outcomes of the last N calls (N up to `Window::MAX_COUNT`).
//!
//! A ring of N slots holding one mark each, and the sums of the marks in one word. A recorder
//! takes the next slot (`head`, a counter taken modulo N), swaps its mark in, and adds what
//! came in and subtracts what went out of the sums in a compare-and-swap loop.
//!
//! Keeps:
//! - A slot holds its mark's whole generation (`gen << 3 | SLOW | FAILED | PRESENT`), so the
//!   mark a recorder swaps out is subtracted only if it is of the recorder's own generation:
//!   the marks of other generations are as good as empty slots.
//! - The sums word is tagged with the generation's low 16 bits. A recorder holding that tag
//!   adds to the sums; one with a newer tag (by serial number, `newer`) starts them over from
//!   empty; one with an older tag is stale, changes nothing and gets `None`. The count of
//!   marks both slow and failed is kept in a second word, tagged the same way.
//! - Each 16-bit field is added to and subtracted from modulo 2^16 on its own, so a
//!   subtraction that races ahead of its addition (a mark swapped out by one thread before the
//!   thread that swapped it in has added it) borrows from nothing and is made good when the
//!   addition lands. With N at most 65,535 every settled value fits its field.
//!
//! Relies on: outcomes recorded at the same time being of generations less than 2^15 apart.
//! A snapshot taken mid-borrow shows a field beyond N, or more failures than calls; it is read
//! as empty sums, which decide nothing.

use super::{newer, Mark, Sums};
use crate::sync::{AtomicU64, Ordering};

/// The count window's generation tag: the generation's low 16 bits.
const TAG16_MASK: u64 = 0xFFFF;

fn tag16(gen: u32) -> u64 {
    u64::from(gen) & TAG16_MASK
}

const PRESENT: u64 = 1;
const FAILED: u64 = 2;
const SLOW: u64 = 4;
const FIELD: u64 = 0xFFFF;

/// The last `n` outcomes: a ring of marks, and their sums in one word.
pub(super) struct CountWindow {
    /// Each slot: `gen << 3 | SLOW | FAILED | PRESENT`, or 0 for never written.
    slots: Box<[AtomicU64]>,
    head: AtomicU64,
    /// `gen16 << 48 | calls << 32 | failures << 16 | slow`. Each field is updated modulo 2^16
    /// on its own, so a subtraction that races ahead of its addition borrows from nothing and
    /// is made good when the addition lands.
    sums: AtomicU64,
    /// `gen16 << 48 | n`: how many marks in the ring are both failed and slow, kept the same
    /// way (written only when such a mark comes in or goes out).
    slow_failed: AtomicU64,
}

impl CountWindow {
    pub(super) fn new(n: u32) -> Self {
        CountWindow {
            slots: (0..n.max(1)).map(|_| AtomicU64::new(0)).collect(),
            head: AtomicU64::new(0),
            sums: AtomicU64::new(0),
            slow_failed: AtomicU64::new(0),
        }
    }

    fn size(&self) -> u64 {
        self.slots.len() as u64
    }

    /// Records one outcome; `None` if this generation's window is already gone.
    pub(super) fn record(&self, gen: u32, mark: Mark) -> Option<Sums> {
        let slot_value = (u64::from(gen) << 3)
            | PRESENT
            | if mark.failed { FAILED } else { 0 }
            | if mark.slow { SLOW } else { 0 };
        let i = self.head.fetch_add(1, Ordering::Relaxed) % self.size();
        // The index fits: it is below the slot count.
        #[allow(clippy::cast_possible_truncation)]
        let old = self.slots[i as usize].swap(slot_value, Ordering::AcqRel);
        // The mark swapped out, whatever its generation: who takes it out of the sums depends
        // on which generation they hold (below).
        let out = if old & PRESENT != 0 {
            Some((
                old >> 3,
                u64::from(old & FAILED != 0),
                u64::from(old & SLOW != 0),
            ))
        } else {
            None
        };
        let (in_f, in_s) = (u64::from(mark.failed), u64::from(mark.slow));
        let tag = tag16(gen);
        let own_out = out.filter(|&(old_gen, ..)| old_gen == u64::from(gen));
        let slow_failed_in = u64::from(mark.failed && mark.slow);
        let slow_failed_out = out.map_or(0, |(_, f, s)| f & s);
        let out_tag = out.map(|(old_gen, ..)| old_gen & TAG16_MASK);
        if slow_failed_in != 0 || slow_failed_out != 0 {
            self.count_slow_failed(tag, slow_failed_in, slow_failed_out, out_tag);
        }
        let mut current = self.sums.load(Ordering::Acquire);
        loop {
            let held = current >> 48;
            // Each field below is masked out of `base` on its own, so the tag bits need no
            // clearing here.
            let (base, kept, came_in, went_out) = if held == tag {
                (current, tag, true, own_out)
            } else if newer(tag, held, TAG16_MASK) {
                // The first outcome of a new generation: start from empty.
                (0, tag, true, own_out)
            } else if out_tag == Some(held) {
                // A newer generation owns the window, so this outcome is stale and counts for
                // nothing; but the mark it swapped out is of that generation and no slot holds
                // it any more: take it out of the sums, or they would count it for good.
                (current, held, false, out)
            } else {
                return None; // stale, and the mark it swapped out is not counted either
            };
            let (in_c, in_f, in_s) = if came_in { (1, in_f, in_s) } else { (0, 0, 0) };
            let (out_c, out_f, out_s) = went_out.map_or((0, 0, 0), |(_, f, s)| (1, f, s));
            let field = |shift: u32, add: u64, sub: u64| {
                (((base >> shift) & FIELD)
                    .wrapping_add(add)
                    .wrapping_sub(sub)
                    & FIELD)
                    << shift
            };
            let next = (kept << 48)
                | field(32, in_c, out_c)
                | field(16, in_f, out_f)
                | field(0, in_s, out_s);
            match self.sums.compare_exchange_weak(
                current,
                next,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) if came_in => return Some(self.decode(next)),
                Ok(_) => return None,
                Err(actual) => current = actual,
            }
        }
    }

    /// Adds `add` (this recorder's mark, of generation tag `tag`) and subtracts `sub` (the mark
    /// it swapped out, of generation tag `out_tag`) to the count of slow failures, each only
    /// while the count is of that mark's generation: as the sums do.
    fn count_slow_failed(&self, tag: u64, add: u64, sub: u64, out_tag: Option<u64>) {
        let mut current = self.slow_failed.load(Ordering::Acquire);
        loop {
            let held = current >> 48;
            let (base, kept, add) = if held == tag {
                (current & FIELD, tag, add)
            } else if newer(tag, held, TAG16_MASK) {
                (0, tag, add)
            } else {
                (current & FIELD, held, 0) // stale: only the mark swapped out may leave
            };
            let sub = if out_tag == Some(kept) { sub } else { 0 };
            if add == 0 && sub == 0 && kept == held {
                return;
            }
            let next = (kept << 48) | (base.wrapping_add(add).wrapping_sub(sub) & FIELD);
            match self.slow_failed.compare_exchange_weak(
                current,
                next,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => return,
                Err(actual) => current = actual,
            }
        }
    }

    pub(super) fn slow_failed(&self, gen: u32) -> u64 {
        let word = self.slow_failed.load(Ordering::Acquire);
        let n = word & FIELD;
        // A subtraction that raced ahead of its addition: a moment's nonsense, read as 0.
        if word >> 48 != tag16(gen) || n > self.size() {
            return 0;
        }
        n
    }

    fn decode(&self, word: u64) -> Sums {
        let sums = Sums {
            calls: (word >> 32) & FIELD,
            failures: (word >> 16) & FIELD,
            slow: word & FIELD,
        };
        // A subtraction that raced ahead of its addition shows as a huge field for a moment:
        // such a snapshot decides nothing.
        if sums.calls > self.size() || sums.failures > sums.calls || sums.slow > sums.calls {
            return Sums::default();
        }
        sums
    }

    pub(super) fn sums(&self, gen: u32) -> Sums {
        let word = self.sums.load(Ordering::Acquire);
        if word >> 48 != tag16(gen) {
            return Sums::default();
        }
        self.decode(word)
    }
}

#[cfg(all(test, not(protego_loom)))]
mod tests {
    use super::*;

    use super::super::marks::{FAIL, OK, SLOW_FAIL};

    #[test]
    fn slow_failures_are_counted_in_and_out_of_a_count_window() {
        let w = CountWindow::new(2);
        w.record(1, SLOW_FAIL);
        w.record(1, FAIL);
        assert_eq!(w.slow_failed(1), 1);
        w.record(1, OK); // the slow failure falls out
        assert_eq!(w.slow_failed(1), 0);
        w.record(1, SLOW_FAIL);
        assert_eq!(w.slow_failed(1), 1);
        w.record(2, SLOW_FAIL);
        assert_eq!((w.slow_failed(1), w.slow_failed(2)), (0, 1));
    }

    #[test]
    fn a_count_window_forgets_what_falls_out_of_it() {
        let w = CountWindow::new(3);
        w.record(1, FAIL);
        w.record(1, FAIL);
        w.record(1, OK);
        assert_eq!(
            w.sums(1),
            Sums {
                calls: 3,
                failures: 2,
                slow: 0
            }
        );
        w.record(1, OK);
        w.record(1, OK);
        assert_eq!(
            w.sums(1),
            Sums {
                calls: 3,
                failures: 0,
                slow: 0
            }
        );
    }

    #[test]
    fn a_new_generation_starts_a_count_window_empty_and_old_ones_are_stale() {
        let w = CountWindow::new(4);
        w.record(1, FAIL);
        w.record(1, FAIL);
        assert_eq!(
            w.record(2, OK),
            Some(Sums {
                calls: 1,
                failures: 0,
                slow: 0
            })
        );
        assert_eq!(w.record(1, FAIL), None, "generation 1 is over");
        assert_eq!(w.sums(1), Sums::default());
    }
    #[test]
    fn a_stale_outcome_that_swaps_out_a_current_mark_takes_it_out_of_the_sums() {
        // Generation 2 fills the ring; a late outcome of generation 1 then takes a slot and
        // swaps out a generation-2 mark. That mark must leave the sums too, or they count a
        // call no slot holds: calls would pass N and the window would read empty for good.
        let w = CountWindow::new(2);
        w.record(2, OK);
        w.record(2, OK);
        assert_eq!(w.record(1, FAIL), None, "stale: counts for nothing");
        assert_eq!(w.sums(2).calls, 1, "the swapped-out mark left the sums");
        for _ in 0..10 {
            w.record(2, FAIL);
        }
        assert_eq!(
            w.sums(2),
            Sums {
                calls: 2,
                failures: 2,
                slow: 0
            },
            "the window still sees its last two outcomes"
        );
    }

    #[test]
    fn a_stale_outcome_takes_a_current_slow_failure_out_of_its_count() {
        let w = CountWindow::new(1);
        w.record(2, SLOW_FAIL);
        assert_eq!(w.slow_failed(2), 1);
        assert_eq!(w.record(1, OK), None);
        assert_eq!(w.slow_failed(2), 0);
    }
}
