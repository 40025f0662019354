//! Item attributes, the split of a context's JSON into chunks, and the
//! host a context is found by.

use super::*;

pub(super) fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

pub(super) fn s(value: &str) -> AttributeValue {
    AttributeValue::S(value.to_owned())
}

pub(super) fn n(value: i64) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

pub(super) fn get_s<'a>(item: &'a Item, name: &str) -> Result<&'a str, String> {
    match item.get(name) {
        Some(AttributeValue::S(v)) => Ok(v),
        Some(other) => Err(format!("attribute {name} is not a string: {other:?}")),
        None => Err(format!("attribute {name} is missing")),
    }
}

pub(super) fn get_n(item: &Item, name: &str) -> Result<i64, String> {
    match item.get(name) {
        Some(AttributeValue::N(v)) => v
            .parse()
            .map_err(|_| format!("attribute {name} is not an integer: {v}")),
        Some(other) => Err(format!("attribute {name} is not a number: {other:?}")),
        None => Err(format!("attribute {name} is missing")),
    }
}

pub(super) fn get_bool(item: &Item, name: &str) -> Result<bool, String> {
    match item.get(name) {
        Some(AttributeValue::Bool(v)) => Ok(*v),
        Some(other) => Err(format!("attribute {name} is not a boolean: {other:?}")),
        None => Err(format!("attribute {name} is missing")),
    }
}

/// `body` cut into chunks of at most [`CHUNK_BYTES`], on character
/// boundaries; an empty body is one empty chunk.
pub(super) fn split(body: &str) -> Vec<&str> {
    let mut chunks = Vec::new();
    let mut rest = body;
    loop {
        if rest.len() <= CHUNK_BYTES {
            chunks.push(rest);
            return chunks;
        }
        let mut end = CHUNK_BYTES;
        while !rest.is_char_boundary(end) {
            end -= 1;
        }
        let (chunk, tail) = rest.split_at(end);
        chunks.push(chunk);
        rest = tail;
    }
}

/// The host a context is found by: lower case, none when empty (an empty
/// string cannot be an index key).
pub(super) fn host_of(context: &TenantContext) -> Option<String> {
    context
        .state
        .site_host
        .as_deref()
        .filter(|h| !h.is_empty())
        .map(str::to_ascii_lowercase)
}

#[cfg(test)]
mod tests {
    use super::{CHUNK_BYTES, split};

    #[test]
    fn split_keeps_every_byte_on_char_boundaries() {
        assert_eq!(split(""), [""]);
        assert_eq!(split("{}"), ["{}"]);
        let body = "é".repeat(CHUNK_BYTES + 7);
        let chunks = split(&body);
        assert_eq!(chunks.len(), 3);
        assert!(chunks.iter().all(|chunk| chunk.len() <= CHUNK_BYTES));
        assert_eq!(chunks.concat(), body);
    }
}
