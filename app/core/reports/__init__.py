"""What managers and head office read: rollups of the raw rows, the board's predictions."""
