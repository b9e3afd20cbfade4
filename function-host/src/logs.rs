//! A function's stdout and stderr, line by line into the node's log, with the function's
//! name and the request id the instance is running (as CloudWatch shows Lambda's logs).

use std::sync::Arc;

use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, BufReader};
use tokio::process::Child;

use crate::pool::Pool;

/// The longest log line kept whole; a longer one is logged in pieces of this size.
const MAX_LINE_BYTES: u64 = 16 * 1024;

/// Pipes the child's stdout and stderr into the log.
pub(crate) fn pipe(pool: &Arc<Pool>, number: u64, child: &mut Child) {
    if let Some(out) = child.stdout.take() {
        tokio::spawn(pump(pool.clone(), number, out, "stdout"));
    }
    if let Some(err) = child.stderr.take() {
        tokio::spawn(pump(pool.clone(), number, err, "stderr"));
    }
}

async fn pump(pool: Arc<Pool>, number: u64, stream: impl AsyncRead + Unpin, name: &'static str) {
    let mut reader = BufReader::new(stream);
    let mut line = Vec::new();
    loop {
        line.clear();
        match (&mut reader)
            .take(MAX_LINE_BYTES)
            .read_until(b'\n', &mut line)
            .await
        {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        let text = String::from_utf8_lossy(&line);
        let request_id = pool.current_request(number).unwrap_or_default();
        tracing::info!(
            target: "function",
            function = %pool.spec.name,
            request_id = %request_id,
            stream = name,
            "{}",
            text.trim_end()
        );
    }
}
