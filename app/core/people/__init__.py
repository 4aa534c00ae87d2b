"""Who signs in: users, their sessions and sign-in throttling."""
