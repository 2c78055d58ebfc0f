use super::StateError;

/// runc's rule: `^[\w+-\.]+$`, and never `.` or `..`, so an id can't name a path outside --root.
pub fn validate_id(id: &str) -> Result<(), StateError> {
    let bad = |why| {
        Err(StateError::BadId {
            id: id.to_string(),
            why,
        })
    };
    if id.is_empty() {
        return bad("must not be empty");
    }
    if id == "." || id == ".." {
        return bad("must not be . or ..");
    }
    if id.len() > 1024 {
        return bad("too long");
    }
    if !id
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'+' | b'-' | b'.'))
    {
        return bad("only letters, digits, '_', '+', '-' and '.' are allowed");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids() {
        for ok in ["a", "abc-1.2_x+y", "A9"] {
            assert!(validate_id(ok).is_ok(), "{ok}");
        }
        for bad in ["", ".", "..", "a/b", "../x", "a b", "a\0b", "é"] {
            assert!(validate_id(bad).is_err(), "{bad:?}");
        }
    }
}
