"""One image folder on disk: its images, label files and statuses (dataset.py), one writing window at a time
(lock.py), and the crash-recovery journal, read without trusting it (journal.py, journal_entry.py)."""
