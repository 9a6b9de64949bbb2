//! The reading side of the probe's BPF ring buffer, with its data pages mapped once.
//!
//! The kernel lays a ring buffer's data pages out twice in a row, so that a record crossing
//! the end of the buffer can be read as one slice when the consumer maps both copies. Every
//! mapped page counts in the consumer's resident set, twice for pages mapped twice: 64 MB
//! for the default 32 MB buffer. This reader maps the data once and copies the few records
//! that cross the end into a buffer of its own.
//!
//! The layout, as the kernel defines it for `BPF_MAP_TYPE_RINGBUF`: at offset 0 one page
//! holding the consumer position (writable by the consumer); at offset one page, one page
//! holding the producer position, then the data. Positions only grow; a position's place
//! in the data is the position modulo the data size (a power of two). Each record starts
//! with an 8-byte header, a 32-bit length with a busy bit (the producer has not committed
//! it yet) and a discard bit, and is padded to a multiple of 8 bytes.

use std::io;
use std::os::fd::{AsFd, AsRawFd, RawFd};
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};

use aya::maps::MapData;

/// Bytes of a record's header.
const HEADER: usize = 8;
/// The producer has reserved the record and not committed it yet.
const BUSY: u32 = 1 << 31;
/// The producer gave the record up: it is skipped.
const DISCARD: u32 = 1 << 30;

/// One `mmap` of the ring buffer's file descriptor, unmapped on drop.
struct Mapping {
    at: NonNull<u8>,
    len: usize,
}

impl Mapping {
    fn new(fd: RawFd, len: usize, offset: usize, writable: bool) -> io::Result<Mapping> {
        let protection = if writable {
            libc::PROT_READ | libc::PROT_WRITE
        } else {
            libc::PROT_READ
        };
        let offset = libc::off_t::try_from(offset)
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "ring offset too large"))?;
        // SAFETY: a fresh shared mapping of a file descriptor the caller keeps open; the
        // kernel picks the address, and the result is checked before use.
        let at = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                protection,
                libc::MAP_SHARED,
                fd,
                offset,
            )
        };
        if at == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let at = NonNull::new(at.cast::<u8>())
            .ok_or_else(|| io::Error::other("mmap of the ring buffer returned null"))?;
        Ok(Mapping { at, len })
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: the mapping was made by `Mapping::new` with this address and length, and
        // no reference into it outlives `self`.
        unsafe {
            libc::munmap(self.at.as_ptr().cast(), self.len);
        }
    }
}

/// The consumer of one BPF ring buffer map.
pub struct Ring {
    /// The consumer position.
    consumer: NonNull<AtomicUsize>,
    /// The producer position; the data follows one page after it.
    producer: NonNull<AtomicUsize>,
    /// The data, `size` bytes, mapped once.
    data: NonNull<u8>,
    size: usize,
    /// A record that crosses the end of the data, put back together.
    joined: Vec<u8>,
    /// What the pointers point into: the two mappings, then the map (so that they are
    /// unmapped before its descriptor closes). `None` for memory a test owns.
    owner: Option<(Mapping, Mapping, MapData)>,
}

// SAFETY: the memory is owned by the ring (or, in tests, outlives it) and only touched
// through `&mut self`, the positions atomically, so moving the ring to another thread is
// sound.
unsafe impl Send for Ring {}

impl Ring {
    /// Maps the ring buffer `map`, whose data area is `size` bytes (a power of two, a
    /// multiple of the page size).
    pub fn new(map: MapData, size: u32) -> io::Result<Ring> {
        // SAFETY: sysconf has no preconditions.
        let page = usize::try_from(unsafe { libc::sysconf(libc::_SC_PAGESIZE) })
            .map_err(|_| io::Error::other("the page size is unknown"))?;
        let size = size as usize;
        if !size.is_power_of_two() || !size.is_multiple_of(page) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("ring buffer size {size} is not a power-of-two multiple of the page size"),
            ));
        }
        let fd = map.fd().as_fd().as_raw_fd();
        let consumer = Mapping::new(fd, page, 0, true)?;
        let producer = Mapping::new(fd, page + size, page, false)?;
        // SAFETY: the producer mapping is `page + size` bytes long.
        let data = unsafe { producer.at.add(page) };
        Ok(Ring {
            consumer: consumer.at.cast(),
            producer: producer.at.cast(),
            data,
            size,
            joined: Vec::new(),
            owner: Some((consumer, producer, map)),
        })
    }

    fn consumer(&self) -> &AtomicUsize {
        // SAFETY: page aligned, alive as long as `self`, and only accessed atomically (by
        // the kernel and by this reader).
        unsafe { self.consumer.as_ref() }
    }

    fn producer(&self) -> &AtomicUsize {
        // SAFETY: as for the consumer position.
        unsafe { self.producer.as_ref() }
    }

    /// Hands every committed record, oldest first, to `each`, and frees its room in the
    /// ring. Stops at the first record still being written, or at the first error of
    /// `each` (that record's room is freed too). Returns how many records were handed.
    pub fn drain<E>(&mut self, mut each: impl FnMut(&[u8]) -> Result<(), E>) -> Result<usize, E> {
        let mask = self.size - 1;
        let mut handed = 0;
        let mut position = self.consumer().load(Ordering::Acquire);
        loop {
            let produced = self.producer().load(Ordering::Acquire);
            if position >= produced {
                return Ok(handed);
            }
            let at = position & mask;
            // SAFETY: `at` is 8-aligned and below `size`, and `size` is a multiple of 8, so
            // the 4-byte length lies inside the data; the producer writes it atomically.
            let header = unsafe {
                self.data
                    .add(at)
                    .cast::<AtomicU32>()
                    .as_ref()
                    .load(Ordering::Acquire)
            };
            if header & BUSY != 0 {
                return Ok(handed);
            }
            let len = (header & !(BUSY | DISCARD)) as usize;
            let next = position + (HEADER + len).next_multiple_of(8);
            let result = if header & DISCARD != 0 {
                Ok(())
            } else {
                handed += 1;
                let start = (at + HEADER) & mask;
                let record = self.record(start, len);
                each(record)
            };
            position = next;
            self.consumer().store(position, Ordering::Release);
            result?;
        }
    }

    /// The `len` bytes of a committed record whose data starts at `start` in the ring.
    fn record(&mut self, start: usize, len: usize) -> &[u8] {
        let first = len.min(self.size - start);
        // SAFETY: `start + first` is at most `size`, and the kernel does not write a
        // committed record until the consumer position passes it, which happens only after
        // the borrow ends.
        let head = unsafe { std::slice::from_raw_parts(self.data.as_ptr().add(start), first) };
        if first == len {
            return head;
        }
        // SAFETY: the rest of the record continues at the start of the data.
        let tail = unsafe { std::slice::from_raw_parts(self.data.as_ptr(), len - first) };
        self.joined.clear();
        self.joined.extend_from_slice(head);
        self.joined.extend_from_slice(tail);
        &self.joined
    }
}

impl AsRawFd for Ring {
    fn as_raw_fd(&self) -> RawFd {
        self.owner
            .as_ref()
            .map_or(-1, |(_, _, map)| map.fd().as_fd().as_raw_fd())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A ring laid out in memory the test owns, with a producer that writes records the
    /// way the kernel does.
    struct Fake {
        consumer: Box<AtomicUsize>,
        producer: Box<AtomicUsize>,
        data: Vec<u64>,
    }

    impl Fake {
        fn new(size: usize) -> Fake {
            Fake {
                consumer: Box::new(AtomicUsize::new(0)),
                producer: Box::new(AtomicUsize::new(0)),
                data: vec![0; size / 8],
            }
        }

        fn ring(&mut self) -> Ring {
            Ring {
                consumer: NonNull::from(&*self.consumer),
                producer: NonNull::from(&*self.producer),
                data: NonNull::new(self.data.as_mut_ptr().cast::<u8>()).unwrap(),
                size: self.data.len() * 8,
                joined: Vec::new(),
                owner: None,
            }
        }

        /// Writes a record of `body` with the header flags `flags` at the producer
        /// position and moves the producer on.
        fn produce(&mut self, body: &[u8], flags: u32) {
            let size = self.data.len() * 8;
            let position = self.producer.load(Ordering::Relaxed);
            let bytes: &mut [u8] = bytemuck(&mut self.data);
            let at = position % size;
            bytes[at..at + 4].copy_from_slice(&(body.len() as u32 | flags).to_ne_bytes());
            for (i, b) in body.iter().enumerate() {
                bytes[(at + HEADER + i) % size] = *b;
            }
            let next = position + (HEADER + body.len()).next_multiple_of(8);
            self.producer.store(next, Ordering::Release);
        }

        /// Sets the header flags of the record at `position`.
        fn flag(&mut self, position: usize, flags: u32) {
            let size = self.data.len() * 8;
            let bytes: &mut [u8] = bytemuck(&mut self.data);
            let at = position % size;
            let len = u32::from_ne_bytes(bytes[at..at + 4].try_into().unwrap());
            let len = len & !(BUSY | DISCARD);
            bytes[at..at + 4].copy_from_slice(&(len | flags).to_ne_bytes());
        }
    }

    fn bytemuck(words: &mut [u64]) -> &mut [u8] {
        // SAFETY: u64 has no padding and any byte pattern is a valid u8.
        unsafe { std::slice::from_raw_parts_mut(words.as_mut_ptr().cast(), words.len() * 8) }
    }

    fn drained(ring: &mut Ring) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        ring.drain(|r| {
            out.push(r.to_vec());
            Ok::<(), ()>(())
        })
        .unwrap();
        out
    }

    #[test]
    fn a_record_that_crosses_the_end_of_the_data_is_handed_whole() {
        let mut fake = Fake::new(64);
        let mut ring = fake.ring();
        fake.produce(b"first record", 0); // 0..24
        fake.produce(b"second, 16 bytes", 0); // 24..48
        assert_eq!(
            drained(&mut ring),
            [b"first record".to_vec(), b"second, 16 bytes".to_vec()]
        );
        assert_eq!(fake.consumer.load(Ordering::Relaxed), 48);
        // Its header at 48..56, its body at 56..64 and on at 0..22.
        let crossing: Vec<u8> = (0..30).collect();
        fake.produce(&crossing, 0);
        fake.produce(b"after", 0);
        assert_eq!(drained(&mut ring), [crossing, b"after".to_vec()]);
        assert_eq!(fake.consumer.load(Ordering::Relaxed), 48 + 40 + 16);
    }

    #[test]
    fn a_record_still_being_written_stops_the_drain_until_it_is_committed() {
        let mut fake = Fake::new(128);
        let mut ring = fake.ring();
        fake.produce(b"one", 0);
        fake.produce(b"two", BUSY);
        fake.produce(b"three", 0);
        assert_eq!(drained(&mut ring), [b"one".to_vec()]);
        assert_eq!(fake.consumer.load(Ordering::Relaxed), 16);
        fake.flag(16, 0);
        assert_eq!(drained(&mut ring), [b"two".to_vec(), b"three".to_vec()]);
    }

    #[test]
    fn a_discarded_record_is_skipped_and_its_room_freed() {
        let mut fake = Fake::new(128);
        let mut ring = fake.ring();
        fake.produce(b"kept", 0);
        fake.produce(b"given up", DISCARD);
        fake.produce(b"kept too", 0);
        assert_eq!(drained(&mut ring), [b"kept".to_vec(), b"kept too".to_vec()]);
        assert_eq!(fake.consumer.load(Ordering::Relaxed), 48);
    }

    #[test]
    fn an_error_stops_the_drain_after_freeing_that_record() {
        let mut fake = Fake::new(128);
        let mut ring = fake.ring();
        fake.produce(b"good", 0);
        fake.produce(b"bad", 0);
        fake.produce(b"later", 0);
        let mut seen = Vec::new();
        let result = ring.drain(|r| {
            seen.push(r.to_vec());
            if r == b"bad" {
                Err("undecodable")
            } else {
                Ok(())
            }
        });
        assert_eq!(result, Err("undecodable"));
        assert_eq!(seen, [b"good".to_vec(), b"bad".to_vec()]);
        assert_eq!(fake.consumer.load(Ordering::Relaxed), 32);
        assert_eq!(drained(&mut ring), [b"later".to_vec()]);
    }
}
