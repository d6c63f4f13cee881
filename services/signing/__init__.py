"""The digital-signature platform stand-in (chữ ký số chuyên dùng Chính phủ): a local test CA."""
