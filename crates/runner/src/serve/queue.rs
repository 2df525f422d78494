//! The durable queue of `serve`: an append-only log of NDJSON segments in the
//! data directory, with group commit.
//!
//! Requests hand their events (one line each) to a single writer thread. It takes
//! every batch that is waiting, writes them all, and calls `fdatasync` once for
//! the lot; only then does each request learn that its events are durable and
//! answer 200. Under load many requests share one sync, which is what makes a
//! durable queue fast on a disk where one sync takes a millisecond or more.
//!
//! A reader follows the log up to the last synced byte (never past it, so
//! nothing is delivered that a crash could take back), and acknowledgements go
//! to a `.acks` file beside each segment: the line numbers of events whose
//! requests have all ended (delivered or dead-lettered). A segment that the
//! writer has moved past, that was read to its end and whose lines are all
//! acknowledged is deleted with its `.acks` file. On start, every segment left
//! is read again, skipping acknowledged lines: what was accepted and not
//! delivered is delivered. Acks are not synced: losing the last ones to a crash
//! sends those events again (at least once), never loses them.

use std::collections::{BTreeMap, HashSet};
use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Read as _, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, mpsc};
use std::time::Instant;

use tokio::sync::{oneshot, watch};

use super::metrics::SyncTimes;

/// A new segment is started when the current one reaches this size.
pub const SEGMENT_BYTES: u64 = 64 * 1024 * 1024;
/// The writer takes waiting batches up to this many bytes into one sync.
const GROUP_BYTES: usize = 16 * 1024 * 1024;
const SEGMENT_EXT: &str = "ndjson";
const ACKS_EXT: &str = "acks";

/// The end of what is durable: a segment and the length synced in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Committed {
    /// The segment being written.
    pub segment: u64,
    /// Bytes of it on disk and synced.
    pub offset: u64,
}

/// A segment's file name: its number, zero-padded so names sort in order.
pub fn segment_name(segment: u64) -> String {
    format!("{segment:020}.{SEGMENT_EXT}")
}

/// The number in a segment file name.
pub fn segment_number(name: &str) -> Option<u64> {
    name.strip_suffix(&format!(".{SEGMENT_EXT}"))?.parse().ok()
}

struct Append {
    lines: Vec<u8>,
    count: u64,
    done: oneshot::Sender<io::Result<()>>,
}

/// Counters of the queue, for `/metrics`.
#[derive(Debug, Default)]
pub struct QueueStats {
    /// Events made durable.
    pub appended: AtomicU64,
    /// Events acknowledged (every request ended).
    pub acked: AtomicU64,
    /// Syncs done (each covers one or more requests).
    pub syncs: AtomicU64,
    /// How long each write and sync took.
    pub sync_times: SyncTimes,
    /// Events found unacknowledged on disk at start.
    pub recovered: AtomicU64,
}

/// Appends to the log; cheap to clone, one per request handler.
#[derive(Clone)]
pub struct Appender {
    tx: mpsc::Sender<Append>,
}

impl Appender {
    /// Appends `count` events (`lines`: one JSON document and `\n` each) and
    /// returns once they are synced to disk.
    pub async fn append(&self, lines: Vec<u8>, count: u64) -> io::Result<()> {
        let (done, wait) = oneshot::channel();
        self.tx
            .send(Append { lines, count, done })
            .map_err(|_| io::Error::other("the queue writer has stopped"))?;
        wait.await
            .map_err(|_| io::Error::other("the queue writer has stopped"))?
    }
}

/// The queue: its writer and what the reader and acknowledgements need.
pub struct Queue {
    dir: PathBuf,
    committed: watch::Receiver<Committed>,
    appender: Option<Appender>,
    writer: Option<std::thread::JoinHandle<()>>,
    /// The first segment this process writes; those before it were left by an earlier run.
    pub first_new: u64,
    /// Counters.
    pub stats: Arc<QueueStats>,
    acks: Arc<Acks>,
}

impl Queue {
    /// Opens the queue in `dir` (created if missing) and starts its writer on a new
    /// segment after any left by an earlier run.
    pub fn open(dir: &Path, keep: bool) -> io::Result<Queue> {
        std::fs::create_dir_all(dir)?;
        let existing = list_segments(dir)?;
        let first_new = existing.last().map_or(1, |s| s + 1);
        let stats = Arc::new(QueueStats::default());
        let (committed_tx, committed) = watch::channel(Committed {
            segment: first_new,
            offset: 0,
        });
        let file = create_segment(dir, first_new)?;
        let (tx, rx) = mpsc::channel::<Append>();
        let writer = {
            let (dir, stats) = (dir.to_owned(), Arc::clone(&stats));
            std::thread::Builder::new()
                .name("queue-writer".to_owned())
                .spawn(move || write_loop(&dir, file, first_new, &rx, &committed_tx, &stats))?
        };
        let acks = Arc::new(Acks {
            dir: dir.to_owned(),
            keep,
            state: Mutex::new(AckState::default()),
            stats: Arc::clone(&stats),
        });
        Ok(Queue {
            dir: dir.to_owned(),
            committed,
            appender: Some(Appender { tx }),
            writer: Some(writer),
            first_new,
            stats,
            acks,
        })
    }

    /// A handle to append with.
    pub fn appender(&self) -> Option<Appender> {
        self.appender.clone()
    }

    /// A reader from the oldest segment on disk.
    pub fn reader(&self) -> io::Result<Reader> {
        let segments = list_segments(&self.dir)?;
        let first = segments.first().copied().unwrap_or(self.first_new);
        Ok(Reader {
            dir: self.dir.clone(),
            committed: self.committed.clone(),
            acks: Arc::clone(&self.acks),
            segment: first,
            file: None,
            read: 0,
            line: 0,
            buf: Vec::new(),
            skip: HashSet::new(),
        })
    }

    /// Acknowledgements.
    pub fn acks(&self) -> Arc<Acks> {
        Arc::clone(&self.acks)
    }

    /// Stops the writer once every append handed to it is synced (after every
    /// [`Appender`] clone is gone), and flushes acknowledgements.
    pub fn close(mut self) {
        self.appender = None;
        if let Some(writer) = self.writer.take() {
            let _ = writer.join();
        }
        self.acks.flush();
    }
}

fn list_segments(dir: &Path) -> io::Result<Vec<u64>> {
    let mut segments: Vec<u64> = std::fs::read_dir(dir)?
        .filter_map(Result::ok)
        .filter_map(|e| segment_number(&e.file_name().to_string_lossy()))
        .collect();
    segments.sort_unstable();
    Ok(segments)
}

fn create_segment(dir: &Path, segment: u64) -> io::Result<File> {
    let file = OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join(segment_name(segment)))?;
    // The new name must survive a crash too, or the synced lines in it would not.
    File::open(dir)?.sync_all()?;
    Ok(file)
}

fn write_loop(
    dir: &Path,
    mut file: File,
    mut segment: u64,
    rx: &mpsc::Receiver<Append>,
    committed: &watch::Sender<Committed>,
    stats: &QueueStats,
) {
    let mut offset = 0u64;
    let mut group: Vec<Append> = Vec::new();
    while let Ok(first) = rx.recv() {
        let mut bytes = first.lines.len();
        group.push(first);
        while bytes < GROUP_BYTES {
            match rx.try_recv() {
                Ok(next) => {
                    bytes += next.lines.len();
                    group.push(next);
                }
                Err(_) => break,
            }
        }
        let mut buf = Vec::with_capacity(bytes);
        for a in &group {
            buf.extend_from_slice(&a.lines);
        }
        let started = Instant::now();
        let result = file.write_all(&buf).and_then(|()| file.sync_data());
        stats.sync_times.record(started.elapsed());
        stats.syncs.fetch_add(1, Ordering::Relaxed);
        match result {
            Ok(()) => {
                offset += buf.len() as u64;
                let count: u64 = group.iter().map(|a| a.count).sum();
                stats.appended.fetch_add(count, Ordering::Relaxed);
                committed.send_replace(Committed { segment, offset });
                for a in group.drain(..) {
                    let _ = a.done.send(Ok(()));
                }
            }
            Err(e) => {
                tracing::error!(error = %e, segment, "Cannot write the queue; the requests get 503.");
                // Whatever part of the group reached the file is cut off again, so
                // the next lines start where the readers expect them.
                let _ = file
                    .set_len(offset)
                    .and_then(|()| file.seek(SeekFrom::End(0)).map(|_| ()));
                for a in group.drain(..) {
                    let _ = a.done.send(Err(io::Error::new(e.kind(), e.to_string())));
                }
            }
        }
        if offset >= SEGMENT_BYTES {
            match create_segment(dir, segment + 1) {
                Ok(next) => {
                    file = next;
                    segment += 1;
                    offset = 0;
                    committed.send_replace(Committed { segment, offset });
                }
                Err(e) => tracing::error!(error = %e, "Cannot start a new queue segment; writing on in the old one."),
            }
        }
    }
}

/// One event read back from the log.
#[derive(Debug)]
pub struct Entry {
    /// Its segment.
    pub segment: u64,
    /// Its line in the segment, from 1.
    pub line: u64,
    /// The line, without its `\n`.
    pub text: Vec<u8>,
}

/// Follows the log from the oldest segment, never past the synced end.
pub struct Reader {
    dir: PathBuf,
    committed: watch::Receiver<Committed>,
    acks: Arc<Acks>,
    segment: u64,
    file: Option<File>,
    read: u64,
    line: u64,
    buf: Vec<u8>,
    skip: HashSet<u64>,
}

/// What [`Reader::next_batch`] found.
pub enum Read {
    /// Events, in log order.
    Entries(Vec<Entry>),
    /// Nothing new yet: wait for the writer.
    Caught,
}

impl Reader {
    /// Reads what is new, up to `max` events.
    pub fn next_batch(&mut self, max: usize) -> io::Result<Read> {
        let mut out = Vec::new();
        loop {
            let committed = *self.committed.borrow_and_update();
            if self.file.is_none() {
                self.open()?;
            }
            let sealed = self.segment < committed.segment;
            let limit = if sealed {
                self.file.as_ref().map_or(Ok(0), |f| f.metadata().map(|m| m.len()))?
            } else {
                committed.offset
            };
            self.fill(limit, max, &mut out)?;
            if !out.is_empty() || !sealed {
                // A sealed segment read to its end moves on below even with lines out,
                // on the next call.
                return Ok(if out.is_empty() {
                    Read::Caught
                } else {
                    Read::Entries(out)
                });
            }
            // Sealed and read to the end (a torn last line, from a crash, was never
            // acknowledged to a client and is dropped).
            self.acks.sealed(self.segment, self.line);
            self.segment += 1;
            self.file = None;
            self.read = 0;
            self.line = 0;
            self.buf.clear();
            self.skip.clear();
        }
    }

    /// Waits until the writer has synced more (or `stop` fires).
    pub async fn wait(&mut self) {
        let _ = self.committed.changed().await;
    }

    fn open(&mut self) -> io::Result<()> {
        let path = self.dir.join(segment_name(self.segment));
        let file = File::open(&path)?;
        self.skip = read_acks(&self.dir, self.segment);
        self.acks.opened(self.segment, self.skip.len() as u64)?;
        self.file = Some(file);
        Ok(())
    }

    fn fill(&mut self, limit: u64, max: usize, out: &mut Vec<Entry>) -> io::Result<()> {
        let Some(file) = self.file.as_mut() else {
            return Ok(());
        };
        let mut chunk = vec![0u8; 256 * 1024];
        while self.read < limit && out.len() < max {
            let want = usize::try_from(limit - self.read)
                .unwrap_or(usize::MAX)
                .min(chunk.len());
            file.seek(SeekFrom::Start(self.read))?;
            let n = file.read(&mut chunk[..want])?;
            if n == 0 {
                break;
            }
            self.read += n as u64;
            self.buf.extend_from_slice(&chunk[..n]);
            let mut start = 0;
            while let Some(end) = self.buf[start..].iter().position(|b| *b == b'\n') {
                let text = self.buf[start..start + end].to_vec();
                start += end + 1;
                self.line += 1;
                if !self.skip.contains(&self.line) {
                    out.push(Entry {
                        segment: self.segment,
                        line: self.line,
                        text,
                    });
                }
            }
            self.buf.drain(..start);
        }
        Ok(())
    }
}

fn read_acks(dir: &Path, segment: u64) -> HashSet<u64> {
    let path = dir.join(format!("{segment:020}.{ACKS_EXT}"));
    match std::fs::read_to_string(path) {
        Ok(text) => text.lines().filter_map(|l| l.trim().parse().ok()).collect(),
        Err(_) => HashSet::new(),
    }
}

#[derive(Default)]
struct AckState {
    segments: BTreeMap<u64, SegmentAcks>,
}

struct SegmentAcks {
    file: BufWriter<File>,
    /// Lines acknowledged, including those found acknowledged at start.
    acked: u64,
    /// Lines in the segment, once it was read to its end.
    lines: Option<u64>,
}

/// Acknowledgements of events whose requests have all ended.
pub struct Acks {
    dir: PathBuf,
    keep: bool,
    state: Mutex<AckState>,
    stats: Arc<QueueStats>,
}

impl Acks {
    fn opened(&self, segment: u64, acked: u64) -> io::Result<()> {
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join(format!("{segment:020}.{ACKS_EXT}")))?;
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        state.segments.insert(
            segment,
            SegmentAcks {
                file: BufWriter::new(file),
                acked,
                lines: None,
            },
        );
        Ok(())
    }

    fn sealed(&self, segment: u64, lines: u64) {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(s) = state.segments.get_mut(&segment) {
            s.lines = Some(lines);
        }
        self.collect(&mut state, segment);
    }

    /// Marks an event done: every request it planned has ended.
    pub fn ack(&self, segment: u64, line: u64) {
        self.stats.acked.fetch_add(1, Ordering::Relaxed);
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(s) = state.segments.get_mut(&segment) {
            s.acked += 1;
            let _ = writeln!(s.file, "{line}");
        }
        self.collect(&mut state, segment);
    }

    /// Writes buffered acknowledgements to their files (no sync: see the module).
    pub fn flush(&self) {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        for s in state.segments.values_mut() {
            let _ = s.file.flush();
        }
    }

    fn collect(&self, state: &mut AckState, segment: u64) {
        let done = state
            .segments
            .get(&segment)
            .is_some_and(|s| s.lines.is_some_and(|n| s.acked >= n));
        if !done {
            return;
        }
        state.segments.remove(&segment);
        let data = self.dir.join(segment_name(segment));
        let acks = self.dir.join(format!("{segment:020}.{ACKS_EXT}"));
        let result = if self.keep {
            let kept = self.dir.join("delivered");
            std::fs::create_dir_all(&kept).and_then(|()| std::fs::rename(&data, kept.join(segment_name(segment))))
        } else {
            std::fs::remove_file(&data)
        };
        match result {
            Ok(()) => {
                let _ = std::fs::remove_file(acks);
                tracing::debug!(segment, "Queue segment delivered and removed.");
            }
            Err(e) => tracing::warn!(segment, error = %e, "Cannot remove a delivered queue segment."),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("encharge-queue-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        d
    }

    fn texts(read: Read) -> Vec<String> {
        match read {
            Read::Entries(e) => e.into_iter().map(|e| String::from_utf8(e.text).unwrap()).collect(),
            Read::Caught => Vec::new(),
        }
    }

    #[tokio::test]
    async fn appended_lines_are_read_back_and_unacked_ones_again_after_a_restart() {
        let d = dir("restart");
        let queue = Queue::open(&d, false).unwrap();
        let app = queue.appender().unwrap();
        app.append(b"{\"a\":1}\n{\"a\":2}\n".to_vec(), 2).await.unwrap();
        app.append(b"{\"a\":3}\n".to_vec(), 1).await.unwrap();
        let mut reader = queue.reader().unwrap();
        assert_eq!(
            texts(reader.next_batch(10).unwrap()),
            ["{\"a\":1}", "{\"a\":2}", "{\"a\":3}"]
        );
        assert!(matches!(reader.next_batch(10).unwrap(), Read::Caught));
        queue.acks().ack(1, 2);
        drop(app);
        drop(reader);
        queue.close();

        let queue = Queue::open(&d, false).unwrap();
        assert_eq!(queue.first_new, 2);
        let mut reader = queue.reader().unwrap();
        assert_eq!(texts(reader.next_batch(10).unwrap()), ["{\"a\":1}", "{\"a\":3}"]);
        queue.acks().ack(1, 1);
        queue.acks().ack(1, 3);
        // Segment 1 was left by the earlier run: read to its end and all acknowledged, it goes.
        assert!(matches!(reader.next_batch(10).unwrap(), Read::Caught));
        assert!(!d.join(segment_name(1)).exists());
        queue.close();
    }

    #[tokio::test]
    async fn a_torn_last_line_is_dropped() {
        let d = dir("torn");
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(d.join(segment_name(1)), b"{\"a\":1}\n{\"a\":").unwrap();
        let queue = Queue::open(&d, false).unwrap();
        let mut reader = queue.reader().unwrap();
        assert_eq!(texts(reader.next_batch(10).unwrap()), ["{\"a\":1}"]);
        queue.acks().ack(1, 1);
        assert!(matches!(reader.next_batch(10).unwrap(), Read::Caught));
        assert!(!d.join(segment_name(1)).exists());
        queue.close();
    }
}
