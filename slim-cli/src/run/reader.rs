//! The reader task: takes decoded events off the probe's ring buffer as fast as they come
//! and forwards them, untouched, to the run's processor. All path work happens downstream,
//! so the ring buffer is emptied quickly and does not overflow under load.

use slim_probe_ebpf::{Event, EventStream, ProbeError};
use tokio::sync::{mpsc, oneshot};

/// Forwards batches of events until told to stop (or the processor is gone), then hands
/// the stream back so the caller can drain what is left.
pub async fn forward_events(
    mut stream: EventStream,
    to_processor: mpsc::UnboundedSender<Vec<Event>>,
    mut stop: oneshot::Receiver<()>,
) -> Result<EventStream, ProbeError> {
    loop {
        let mut batch = Vec::new();
        // `next_batch` only consumes records after its wait, so dropping it is lossless.
        let stopped = tokio::select! {
            biased;
            _ = &mut stop => true,
            read = stream.next_batch(&mut batch) => {
                read?;
                false
            }
        };
        if stopped || to_processor.send(batch).is_err() {
            return Ok(stream);
        }
    }
}
