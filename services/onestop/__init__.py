"""The one-stop information system (hệ thống thông tin giải quyết thủ tục hành chính)."""
