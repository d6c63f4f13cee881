"""The tamper-evident audit log (nhật ký kiểm toán) of every event on every topic."""
