"""Reports: pages and text made from state, for people to read. Nothing here changes anything.

    write_gallery(output_dir, manifest, title=...)   gallery.py: the outputs' index.html
    write_review_sheet(path, dataset_review)         review.py: a dataset's images and captions
    describe_state(...)                              show.py: what `show` prints
"""
