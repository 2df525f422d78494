//! The durable queue of `serve`, behind the small [`EventQueue`] interface, and
//! its backend on disk, [`LogQueue`]: an append-only log of NDJSON segments in
//! the data directory, with group commit.
//!
//! Requests hand their events (one line each) to a single writer thread. It takes
//! every batch that is waiting, writes them all, and calls `fdatasync` once for
//! the lot; only then does each request learn that its events are durable and
//! answer 200. Under load many requests share one sync, which is what makes a
//! durable queue fast on a disk where one sync takes a millisecond or more. An
//! append that would take the segments on disk over the configured size is
//! refused (the client gets 503 and retries later), as is one that fails to
//! write (a full disk).
//!
//! A reader follows the log up to the last synced byte (never past it, so
//! nothing is delivered that a crash could take back), and acknowledgements go
//! to a `.acks` file beside each segment: the line numbers of events whose
//! requests have all ended (delivered or dead-lettered). A segment that the
//! writer has moved past, that was read to its end and whose lines are all
//! acknowledged is deleted with its `.acks` file. On start, every segment left
//! is read again: what was accepted and not delivered is delivered, and what
//! was acknowledged is handed out marked done, only so that its `messageId`
//! counts for duplicate detection. Acks are not synced: losing the last ones to
//! a crash sends those events again (at least once), never loses them.

use std::collections::{BTreeMap, HashSet};
use std::fs::{File, OpenOptions};
use std::future::Future;
use std::io::{self, BufWriter, Read as _, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, mpsc};
use std::time::Instant;

use tokio::sync::{oneshot, watch};

use super::metrics::SyncTimes;

// --- The interface ------------------------------------------------------------

/// A future of the queue, boxed so that the queue can be a `dyn EventQueue`.
pub type QueueFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// The queue between ingest and delivery: ingest appends, one consumer reads
/// in order, delivery acknowledges. This is all that ingest and delivery know
/// of it; [`LogQueue`] keeps it in files, and a backend on a shared engine
/// (a stream, a table) can take its place so that several runners share one
/// queue.
pub trait EventQueue: Send + Sync {
    /// Stores events (`lines`: `count` JSON documents, each followed by `\n`)
    /// and resolves once a crash can no longer lose them.
    fn append(&self, lines: Vec<u8>, count: u64) -> QueueFuture<'_, Result<(), AppendError>>;
    /// The next events in order, at most `max`; waits while there are none.
    /// One consumer only.
    fn read(&self, max: usize) -> QueueFuture<'_, io::Result<Vec<Entry>>>;
    /// Marks an event done (delivered or given up on): it is not handed out
    /// again, even after a restart.
    fn ack(&self, at: Position);
    /// Counters, for `/metrics`.
    fn stats(&self) -> &QueueStats;
    /// Stores what was handed to [`append`](EventQueue::append) so far, refuses
    /// appends from then on, and writes out buffered acknowledgements.
    fn close(&self);
}

/// Why events were not stored; the client is asked to retry (503).
#[derive(Debug)]
pub enum AppendError {
    /// The queue holds as much as it was allowed (`--max-queue-bytes`).
    Full {
        /// The limit, in bytes.
        limit: u64,
    },
    /// Storing failed, e.g. the disk is full.
    Io(io::Error),
    /// The queue was closed.
    Closed,
}

impl std::fmt::Display for AppendError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AppendError::Full { limit } => write!(f, "the queue is full ({limit} bytes waiting for delivery)"),
            AppendError::Io(e) => write!(f, "cannot write the queue: {e}"),
            AppendError::Closed => f.write_str("the queue is closed"),
        }
    }
}

/// Where an event sits in the queue, to acknowledge it by. In the log, a
/// segment and a line; another backend maps its own ids onto the pair.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Position {
    /// The segment.
    pub segment: u64,
    /// The line in it, from 1.
    pub line: u64,
}

/// One event read back.
#[derive(Debug)]
pub struct Entry {
    /// Where it sits.
    pub at: Position,
    /// Where it came from, in words for logs and dead letters (a file name).
    pub source: Arc<str>,
    /// Stored by an earlier run of the server.
    pub recovered: bool,
    /// Already acknowledged by an earlier run: handed out only so that its
    /// `messageId` counts for duplicate detection, never to be delivered.
    pub done: bool,
    /// The event, without its `\n`.
    pub text: Vec<u8>,
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
    /// Bytes of the queue's files on disk.
    pub bytes: AtomicU64,
    /// Appends refused because the queue was full.
    pub refused_full: AtomicU64,
}

// --- The log on disk ------------------------------------------------------------

/// A new segment is started when the current one reaches this size, or a
/// quarter of the queue's maximum size if that is smaller: a segment's bytes
/// are freed only once the writer has moved past it.
const SEGMENT_BYTES: u64 = 64 * 1024 * 1024;
/// The writer takes waiting batches up to this many bytes into one sync.
const GROUP_BYTES: usize = 16 * 1024 * 1024;
const SEGMENT_EXT: &str = "ndjson";
const ACKS_EXT: &str = "acks";

/// The end of what is durable: a segment and the length synced in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
struct Committed {
    segment: u64,
    offset: u64,
}

/// A segment's file name: its number, zero-padded so names sort in order.
pub fn segment_name(segment: u64) -> String {
    format!("{segment:020}.{SEGMENT_EXT}")
}

/// The number in a segment file name.
pub fn segment_number(name: &str) -> Option<u64> {
    name.strip_suffix(&format!(".{SEGMENT_EXT}"))?.parse().ok()
}

fn acks_name(segment: u64) -> String {
    format!("{segment:020}.{ACKS_EXT}")
}

enum Message {
    Append {
        lines: Vec<u8>,
        count: u64,
        done: oneshot::Sender<Result<(), AppendError>>,
    },
    /// Everything sent before is written; then the writer ends.
    Close,
}

/// The queue as an append-only log of NDJSON segments under a directory.
pub struct LogQueue {
    tx: Mutex<Option<mpsc::Sender<Message>>>,
    writer: Mutex<Option<std::thread::JoinHandle<()>>>,
    reader: tokio::sync::Mutex<Reader>,
    stats: Arc<QueueStats>,
    acks: Arc<Acks>,
    /// Held locked while the queue is open: one process per directory.
    _lock: File,
}

/// Locks `dir` for this process, or says which process has it: two servers on
/// one queue would each deliver the other's events.
fn lock(dir: &Path) -> io::Result<File> {
    let path = dir.join("lock");
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)?;
    match file.try_lock() {
        Ok(()) => {
            file.set_len(0)?;
            writeln!(file, "{}", std::process::id())?;
            Ok(file)
        }
        Err(std::fs::TryLockError::WouldBlock) => {
            let mut pid = String::new();
            let _ = file.read_to_string(&mut pid);
            Err(io::Error::other(format!(
                "another process (pid {}) is using it; give each server its own --data-dir",
                pid.trim()
            )))
        }
        Err(std::fs::TryLockError::Error(e)) => Err(e),
    }
}

impl LogQueue {
    /// Opens the queue in `dir` (created if missing) and starts its writer on a
    /// new segment after any left by an earlier run. `max_bytes` caps the files
    /// on disk (appends beyond it are refused); `keep` moves delivered segments
    /// to `dir/delivered/` instead of deleting them.
    pub fn open(dir: &Path, max_bytes: u64, keep: bool) -> io::Result<LogQueue> {
        std::fs::create_dir_all(dir)?;
        let lock = lock(dir)?;
        let existing = list_segments(dir)?;
        let first_new = existing.last().map_or(1, |s| s + 1);
        let stats = Arc::new(QueueStats::default());
        let mut on_disk = 0;
        for segment in &existing {
            on_disk += std::fs::metadata(dir.join(segment_name(*segment))).map_or(0, |m| m.len());
        }
        stats.bytes.store(on_disk, Ordering::Relaxed);
        if !existing.is_empty() {
            tracing::info!(
                segments = existing.len(),
                bytes = on_disk,
                "The queue holds events from an earlier run; those not delivered yet go out first."
            );
        }
        let (committed_tx, committed) = watch::channel(Committed {
            segment: first_new,
            offset: 0,
        });
        let file = create_segment(dir, first_new)?;
        let (tx, rx) = mpsc::channel::<Message>();
        let writer = {
            let (dir, stats) = (dir.to_owned(), Arc::clone(&stats));
            let limits = Limits {
                max_bytes,
                segment_bytes: (max_bytes / 4).clamp(64 * 1024, SEGMENT_BYTES),
            };
            std::thread::Builder::new()
                .name("queue-writer".to_owned())
                .spawn(move || write_loop(&dir, file, first_new, &rx, &committed_tx, &stats, limits))?
        };
        let acks = Arc::new(Acks {
            dir: dir.to_owned(),
            keep,
            state: Mutex::new(AckState::default()),
            stats: Arc::clone(&stats),
        });
        let reader = Reader {
            dir: dir.to_owned(),
            committed,
            acks: Arc::clone(&acks),
            first_new,
            segment: existing.first().copied().unwrap_or(first_new),
            source: Arc::from(""),
            file: None,
            read: 0,
            line: 0,
            buf: Vec::new(),
            skip: HashSet::new(),
        };
        Ok(LogQueue {
            tx: Mutex::new(Some(tx)),
            writer: Mutex::new(Some(writer)),
            reader: tokio::sync::Mutex::new(reader),
            stats,
            acks,
            _lock: lock,
        })
    }

    /// Writes buffered acknowledgements to their files (no sync: see the module).
    pub fn flush(&self) {
        self.acks.flush();
    }
}

impl EventQueue for LogQueue {
    fn append(&self, lines: Vec<u8>, count: u64) -> QueueFuture<'_, Result<(), AppendError>> {
        let (done, wait) = oneshot::channel();
        let sent = match &*self.tx.lock().unwrap_or_else(PoisonError::into_inner) {
            Some(tx) => tx.send(Message::Append { lines, count, done }).is_ok(),
            None => false,
        };
        Box::pin(async move {
            if !sent {
                return Err(AppendError::Closed);
            }
            wait.await.unwrap_or(Err(AppendError::Closed))
        })
    }

    fn read(&self, max: usize) -> QueueFuture<'_, io::Result<Vec<Entry>>> {
        Box::pin(async move {
            let mut reader = self.reader.lock().await;
            loop {
                let entries = reader.next_batch(max)?;
                if !entries.is_empty() {
                    return Ok(entries);
                }
                reader.wait().await;
            }
        })
    }

    fn ack(&self, at: Position) {
        self.acks.ack(at);
    }

    fn stats(&self) -> &QueueStats {
        &self.stats
    }

    fn close(&self) {
        if let Some(tx) = self.tx.lock().unwrap_or_else(PoisonError::into_inner).take() {
            let _ = tx.send(Message::Close);
        }
        if let Some(writer) = self.writer.lock().unwrap_or_else(PoisonError::into_inner).take() {
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

#[derive(Clone, Copy)]
struct Limits {
    max_bytes: u64,
    segment_bytes: u64,
}

fn write_loop(
    dir: &Path,
    mut file: File,
    mut segment: u64,
    rx: &mpsc::Receiver<Message>,
    committed: &watch::Sender<Committed>,
    stats: &QueueStats,
    limits: Limits,
) {
    let mut offset = 0u64;
    let mut group: Vec<(u64, oneshot::Sender<Result<(), AppendError>>)> = Vec::new();
    let mut buf: Vec<u8> = Vec::new();
    let mut closing = false;
    while !closing {
        let Ok(first) = rx.recv() else { break };
        let mut next = Some(first);
        buf.clear();
        // Take every append waiting (up to a group's size) into one write and one sync.
        while let Some(message) = next.take() {
            match message {
                Message::Append { lines, count, done } => {
                    let on_disk = stats.bytes.load(Ordering::Relaxed) + buf.len() as u64;
                    if on_disk + lines.len() as u64 > limits.max_bytes {
                        stats.refused_full.fetch_add(count, Ordering::Relaxed);
                        let _ = done.send(Err(AppendError::Full {
                            limit: limits.max_bytes,
                        }));
                    } else {
                        buf.extend_from_slice(&lines);
                        group.push((count, done));
                    }
                }
                Message::Close => {
                    closing = true;
                    break;
                }
            }
            if buf.len() < GROUP_BYTES {
                next = rx.try_recv().ok();
            }
        }
        if group.is_empty() {
            continue;
        }
        let started = Instant::now();
        let result = file.write_all(&buf).and_then(|()| file.sync_data());
        stats.sync_times.record(started.elapsed());
        stats.syncs.fetch_add(1, Ordering::Relaxed);
        match result {
            Ok(()) => {
                offset += buf.len() as u64;
                stats.bytes.fetch_add(buf.len() as u64, Ordering::Relaxed);
                let count: u64 = group.iter().map(|(n, _)| n).sum();
                stats.appended.fetch_add(count, Ordering::Relaxed);
                committed.send_replace(Committed { segment, offset });
                for (_, done) in group.drain(..) {
                    let _ = done.send(Ok(()));
                }
            }
            Err(e) => {
                tracing::error!(error = %e, segment, "Cannot write the queue; the requests get 503.");
                // Whatever part of the group reached the file is cut off again, so
                // the next lines start where the readers expect them.
                let _ = file
                    .set_len(offset)
                    .and_then(|()| file.seek(SeekFrom::End(0)).map(|_| ()));
                for (_, done) in group.drain(..) {
                    let _ = done.send(Err(AppendError::Io(io::Error::new(e.kind(), e.to_string()))));
                }
            }
        }
        if offset >= limits.segment_bytes {
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

/// Follows the log from the oldest segment, never past the synced end.
struct Reader {
    dir: PathBuf,
    committed: watch::Receiver<Committed>,
    acks: Arc<Acks>,
    /// The first segment of this run; those before it are recovered.
    first_new: u64,
    segment: u64,
    source: Arc<str>,
    file: Option<File>,
    read: u64,
    line: u64,
    buf: Vec<u8>,
    /// Lines of the segment acknowledged by an earlier run.
    skip: HashSet<u64>,
}

impl Reader {
    /// Reads what is new, up to `max` events; none when it has caught up with the writer.
    fn next_batch(&mut self, max: usize) -> io::Result<Vec<Entry>> {
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
                // A sealed segment read to its end moves on below, on the next call.
                return Ok(out);
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

    /// Waits until the writer has synced more.
    async fn wait(&mut self) {
        let _ = self.committed.changed().await;
    }

    fn open(&mut self) -> io::Result<()> {
        let name = segment_name(self.segment);
        let file = File::open(self.dir.join(&name))?;
        self.skip = read_acks(&self.dir, self.segment);
        self.acks.opened(self.segment, self.skip.len() as u64)?;
        self.source = Arc::from(name);
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
                out.push(Entry {
                    at: Position {
                        segment: self.segment,
                        line: self.line,
                    },
                    source: Arc::clone(&self.source),
                    recovered: self.segment < self.first_new,
                    done: self.skip.contains(&self.line),
                    text,
                });
            }
            self.buf.drain(..start);
        }
        Ok(())
    }
}

fn read_acks(dir: &Path, segment: u64) -> HashSet<u64> {
    match std::fs::read_to_string(dir.join(acks_name(segment))) {
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
struct Acks {
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
            .open(self.dir.join(acks_name(segment)))?;
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

    fn ack(&self, at: Position) {
        self.stats.acked.fetch_add(1, Ordering::Relaxed);
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(s) = state.segments.get_mut(&at.segment) {
            s.acked += 1;
            let _ = writeln!(s.file, "{}", at.line);
        }
        self.collect(&mut state, at.segment);
    }

    fn flush(&self) {
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
        let acks = self.dir.join(acks_name(segment));
        let size = std::fs::metadata(&data).map_or(0, |m| m.len());
        let result = if self.keep {
            let kept = self.dir.join("delivered");
            std::fs::create_dir_all(&kept).and_then(|()| std::fs::rename(&data, kept.join(segment_name(segment))))
        } else {
            std::fs::remove_file(&data)
        };
        match result {
            Ok(()) => {
                self.stats
                    .bytes
                    .fetch_sub(size.min(self.stats.bytes.load(Ordering::Relaxed)), Ordering::Relaxed);
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

    fn texts(entries: &[Entry]) -> Vec<String> {
        entries
            .iter()
            .map(|e| String::from_utf8(e.text.clone()).unwrap())
            .collect()
    }

    fn at(segment: u64, line: u64) -> Position {
        Position { segment, line }
    }

    async fn caught_up(queue: &LogQueue) -> bool {
        queue.reader.lock().await.next_batch(10).unwrap().is_empty()
    }

    #[tokio::test]
    async fn appended_lines_are_read_back_and_unacked_ones_again_after_a_restart() {
        let d = dir("restart");
        let queue = LogQueue::open(&d, u64::MAX, false).unwrap();
        queue.append(b"{\"a\":1}\n{\"a\":2}\n".to_vec(), 2).await.unwrap();
        queue.append(b"{\"a\":3}\n".to_vec(), 1).await.unwrap();
        let entries = queue.read(10).await.unwrap();
        assert_eq!(texts(&entries), ["{\"a\":1}", "{\"a\":2}", "{\"a\":3}"]);
        assert!(entries.iter().all(|e| !e.recovered && !e.done));
        assert!(caught_up(&queue).await);
        queue.ack(at(1, 2));
        queue.close();
        assert!(queue.append(b"{}\n".to_vec(), 1).await.is_err());
        // While it is open, no other queue can open the directory.
        let second = LogQueue::open(&d, u64::MAX, false).err().unwrap();
        assert!(second.to_string().contains("is using it"), "{second}");
        drop(queue);

        let queue = LogQueue::open(&d, u64::MAX, false).unwrap();
        let entries = queue.read(10).await.unwrap();
        // Everything of the earlier run comes back, the acknowledged line marked done.
        assert_eq!(texts(&entries), ["{\"a\":1}", "{\"a\":2}", "{\"a\":3}"]);
        assert_eq!(entries.iter().map(|e| e.done).collect::<Vec<_>>(), [false, true, false]);
        assert!(entries.iter().all(|e| e.recovered));
        assert_eq!(&*entries[0].source, segment_name(1));
        queue.ack(at(1, 1));
        queue.ack(at(1, 3));
        // Segment 1 was left by the earlier run: read to its end and all acknowledged, it goes.
        assert!(caught_up(&queue).await);
        assert!(!d.join(segment_name(1)).exists());
        queue.close();
    }

    #[tokio::test]
    async fn a_torn_last_line_is_dropped() {
        let d = dir("torn");
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(d.join(segment_name(1)), b"{\"a\":1}\n{\"a\":").unwrap();
        let queue = LogQueue::open(&d, u64::MAX, false).unwrap();
        assert_eq!(texts(&queue.read(10).await.unwrap()), ["{\"a\":1}"]);
        queue.ack(at(1, 1));
        assert!(caught_up(&queue).await);
        assert!(!d.join(segment_name(1)).exists());
        queue.close();
    }

    #[tokio::test]
    async fn appends_over_the_size_limit_are_refused_until_delivery_frees_room() {
        let d = dir("full");
        std::fs::create_dir_all(&d).unwrap();
        // An earlier run left 8 bytes undelivered; the limit is 20.
        std::fs::write(d.join(segment_name(1)), b"{\"a\":1}\n").unwrap();
        let queue = LogQueue::open(&d, 20, false).unwrap();
        queue.append(b"{\"b\":1}\n".to_vec(), 1).await.unwrap();
        let refused = queue.append(b"{\"c\":1}\n".to_vec(), 1).await;
        assert!(matches!(refused, Err(AppendError::Full { limit: 20 })), "{refused:?}");
        assert_eq!(queue.stats().refused_full.load(Ordering::Relaxed), 1);
        assert_eq!(queue.stats().bytes.load(Ordering::Relaxed), 16);
        // Delivering the old segment removes its file and makes room.
        let old = queue.read(10).await.unwrap();
        assert_eq!(texts(&old), ["{\"a\":1}"]);
        queue.ack(old[0].at);
        assert_eq!(texts(&queue.read(10).await.unwrap()), ["{\"b\":1}"]);
        assert!(!d.join(segment_name(1)).exists());
        assert_eq!(queue.stats().bytes.load(Ordering::Relaxed), 8);
        queue.append(b"{\"c\":1}\n".to_vec(), 1).await.unwrap();
        queue.close();
    }
}
