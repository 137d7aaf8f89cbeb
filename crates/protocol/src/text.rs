//! [`cut`]: a text field kept within its byte bound without splitting a character (names,
//! reasons).

/// `text` cut to at most `max` bytes, at a character boundary.
pub fn cut(text: &str, max: usize) -> &str {
    let mut end = text.len().min(max);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn texts_are_cut_at_a_character_boundary() {
        assert_eq!(cut("abc", 200), "abc");
        assert_eq!(cut("abcdef", 3), "abc");
        assert_eq!(cut("aé", 2), "a"); // é is two bytes
        assert_eq!(cut(&"é".repeat(150), 200).len(), 200);
        assert_eq!(cut("é", 0), "");
    }
}
