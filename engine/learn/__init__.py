"""What learns from the annotator: head adaptation on cached features after each stroke (adapt, grid, correction),
fine-tuning on a folder's saved labels (finetune, saved), and the search of CRF parameters against them
(crf_search, folder_preset). Qt-free; long work is cancellable (should_cancel) and reports progress (callbacks)."""
