"""gunicorn reads this file from the directory it starts in (make serve, the e2e server).

gunicorn answers a request line over 4094 bytes itself, with a bare English "Request Line is too large" page, before
the app can say anything. 8190 (its largest) lets a long search (a pasted text of 5,000 characters) reach the app,
which cuts the search and answers in the reader's language; what is longer still is no browser's doing.
"""

limit_request_line = 8190
limit_request_field_size = 8190
