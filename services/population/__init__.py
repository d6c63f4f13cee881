"""The national population database stand-in (Cơ sở dữ liệu quốc gia về dân cư), reached through the LGSP."""
