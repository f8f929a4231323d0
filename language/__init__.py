"""Which language a customer writes: English, Hinglish (Latin letters) or Hindi (Devanagari)."""
