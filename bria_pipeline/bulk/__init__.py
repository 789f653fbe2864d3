"""Advanced (bulk) datasets: build the zip from local images, stage it, run the bulk upload.

    zipbuild   the deterministic, streamed, stored zip whose sha256 names the staged object
    staging    where the service fetches the zip from (a user's uploader, fsspec, the sandbox)
    upload     one bulk-upload POST, status polling with progress, failed images mapped back
"""
