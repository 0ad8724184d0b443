metadata(version="0.1.0", description="Storage for persisted security state: atomic, durable record replace (FileStorage), MemoryStorage with power-cut injection for tests, a counting wrapper.")

# hgstore.py documents the storage interface that lms_state, oscore (and
# later SUIT and EAT) persist their state through. No dependencies.
module("hgstore.py", opt=1)
# FileStorage and CountingStorage, imported on first use of
# hgstore.FileStorage / hgstore.CountingStorage.
module("hgstore_file.py", opt=1)
module("hgstore_count.py", opt=1)
