"""The national payment platform stand-in (nền tảng thanh toán trực tuyến quốc gia)."""
