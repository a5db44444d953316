"""Content-addressed blob storage (local directory or any fsspec URL such as S3)."""

from arno.blobstore.blobs import BlobInfo, BlobStore
from arno.blobstore.hashing import HASH_RE, Hasher, check_hash, hash_bytes, hash_file, is_hash

__all__ = [
    "HASH_RE",
    "BlobInfo",
    "BlobStore",
    "Hasher",
    "check_hash",
    "hash_bytes",
    "hash_file",
    "is_hash",
]
