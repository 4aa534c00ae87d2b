"""What managers and head office read: a store's day and an associate's day, rolled up from the raw rows."""
