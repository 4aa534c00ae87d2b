"""The systems around a store: the event feed and webhooks, the worker, API clients, file imports, e-mail."""
