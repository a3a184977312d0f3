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

/// The generation bits a slot keeps (the state word's generation is 27 bits wide).
const GEN27_MASK: u64 = (1 << 27) - 1;

/// The full generation whose tag is `tag`, worked out from a generation `gen` less than 2^15
/// away from it.
fn full_gen(gen: u32, tag: u64) -> u64 {
    let delta = tag.wrapping_sub(tag16(gen)) & TAG16_MASK;
    let gen = u64::from(gen);
    let full = if delta < 1 << 15 {
        gen.wrapping_add(delta)
    } else {
        gen.wrapping_sub((1 << 16) - delta)
    };
    full & GEN27_MASK
}

/// What one recorder does to a word tagged with a generation (the sums, or the count of slow
/// failures): the word goes to the newest of the generations in play (its own, the recorder's,
/// the swapped-out mark's), starting from empty if that is newer than the word's; the
/// recorder's mark comes in only if it is of that generation, and the swapped-out mark goes
/// out only if it is (then it was counted there, or its addition is on its way and the
/// subtraction borrows until it lands). A recorder that finds a newer generation is stale: it
/// adds nothing, but still takes out a mark of that generation it swapped out, which no slot
/// holds any more.
struct Change {
    kept: u64,
    fresh: bool,
    came_in: bool,
    went_out: bool,
}

impl Change {
    #[inline]
    fn of(gen: u32, held: u64, out: Option<u64>) -> Change {
        let own = tag16(gen);
        // The usual case, worked out without the general one's comparisons: the word is this
        // recorder's generation, and the mark swapped out is of it or older.
        if held == own && !out.is_some_and(|out| newer(out & TAG16_MASK, own, TAG16_MASK)) {
            return Change {
                kept: own,
                fresh: false,
                came_in: true,
                went_out: out.is_some_and(|out| out & GEN27_MASK == u64::from(gen) & GEN27_MASK),
            };
        }
        let newest = |a: u64, b: u64| if newer(b, a, TAG16_MASK) { b } else { a };
        let mut kept = newest(held, own);
        if let Some(out) = out {
            kept = newest(kept, out & TAG16_MASK);
        }
        Change {
            kept,
            fresh: kept != held,
            came_in: kept == own,
            went_out: out.is_some_and(|out| out & GEN27_MASK == full_gen(gen, kept)),
        }
    }

    /// Whether the word changes at all.
    #[inline]
    fn moves(&self, held: u64) -> bool {
        self.came_in || self.went_out || self.kept != held
    }
}

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
    #[inline]
    pub(super) fn record(&self, gen: u32, mark: Mark) -> Option<Sums> {
        let old = self.swap_in(gen, mark);
        self.account(gen, mark, old)
    }

    /// The first half of recording: takes the next slot and swaps the mark in; returns the
    /// slot's old value.
    #[inline]
    fn swap_in(&self, gen: u32, mark: Mark) -> u64 {
        let slot_value = (u64::from(gen) << 3)
            | PRESENT
            | if mark.failed { FAILED } else { 0 }
            | if mark.slow { SLOW } else { 0 };
        let i = self.head.fetch_add(1, Ordering::Relaxed) % self.size();
        // The index fits: it is below the slot count.
        #[allow(clippy::cast_possible_truncation)]
        self.slots[i as usize].swap(slot_value, Ordering::AcqRel)
    }

    /// The second half: the mark in, the swapped-out one (`old`) out, of the sums.
    fn account(&self, gen: u32, mark: Mark, old: u64) -> Option<Sums> {
        // The mark swapped out, whatever its generation: it leaves the sums only if they are
        // of its generation (see `Change`).
        let out = (old & PRESENT != 0).then_some(old >> 3);
        let (out_f, out_s) = (u64::from(old & FAILED != 0), u64::from(old & SLOW != 0));
        let (in_f, in_s) = (u64::from(mark.failed), u64::from(mark.slow));
        let slow_failed_in = u64::from(mark.failed && mark.slow);
        let slow_failed_out = out_f & out_s;
        if slow_failed_in != 0 || (out.is_some() && slow_failed_out != 0) {
            self.count_slow_failed(gen, slow_failed_in, out.filter(|_| slow_failed_out != 0));
        }
        let mut current = self.sums.load(Ordering::Acquire);
        loop {
            let change = Change::of(gen, current >> 48, out);
            if !change.moves(current >> 48) {
                return None; // stale, and the mark it swapped out is not counted either
            }
            // Each field below is masked out of `base` on its own, so the tag bits need no
            // clearing here.
            let base = if change.fresh { 0 } else { current };
            let (in_c, in_f, in_s) = if change.came_in {
                (1, in_f, in_s)
            } else {
                (0, 0, 0)
            };
            let (out_c, out_f, out_s) = if change.went_out {
                (1, out_f, out_s)
            } else {
                (0, 0, 0)
            };
            let field = |shift: u32, add: u64, sub: u64| {
                (((base >> shift) & FIELD)
                    .wrapping_add(add)
                    .wrapping_sub(sub)
                    & FIELD)
                    << shift
            };
            let next = (change.kept << 48)
                | field(32, in_c, out_c)
                | field(16, in_f, out_f)
                | field(0, in_s, out_s);
            match self.sums.compare_exchange_weak(
                current,
                next,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) if change.came_in => return Some(self.decode(next)),
                Ok(_) => return None,
                Err(actual) => current = actual,
            }
        }
    }

    /// Adds `add` (this recorder's mark, of generation `gen`) to the count of slow failures,
    /// and takes out the slow failure it swapped out (of generation `out`), each as the sums do.
    fn count_slow_failed(&self, gen: u32, add: u64, out: Option<u64>) {
        let mut current = self.slow_failed.load(Ordering::Acquire);
        loop {
            let change = Change::of(gen, current >> 48, out);
            let add = if change.came_in { add } else { 0 };
            let sub = u64::from(change.went_out);
            if add == 0 && sub == 0 && !change.fresh {
                return;
            }
            let base = if change.fresh { 0 } else { current & FIELD };
            let next = (change.kept << 48) | (base.wrapping_add(add).wrapping_sub(sub) & FIELD);
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

    #[test]
    fn a_stale_outcome_that_swaps_out_a_newer_mark_not_yet_added_takes_it_out() {
        // Generation 2's recorder has swapped its mark in but not yet added it; a late outcome
        // of generation 1 takes the same slot (N = 1) and swaps that mark out. When the
        // addition lands, the sums must not count a mark no slot holds.
        let w = CountWindow::new(1);
        let old = w.swap_in(2, FAIL);
        assert_eq!(w.record(1, OK), None, "stale");
        assert_eq!(
            w.account(2, FAIL, old).map(|s| s.calls),
            Some(0),
            "borrowed, made good"
        );
        assert_eq!(
            w.record(2, FAIL),
            Some(Sums {
                calls: 1,
                failures: 1,
                slow: 0
            }),
            "the window goes on counting its last outcome"
        );
    }

    #[test]
    fn generations_are_told_apart_in_full_not_by_their_low_bits() {
        assert_eq!(full_gen(5, tag16(5)), 5);
        assert_eq!(full_gen(5, tag16(7)), 7);
        assert_eq!(full_gen(70_000, tag16(69_990)), 69_990);
        assert_eq!(full_gen(65_540, tag16(65_530)), 65_530, "across a tag wrap");
        assert_eq!(
            full_gen(3, tag16(65_535)),
            GEN27_MASK,
            "one below zero: the last generation"
        );
    }
}
