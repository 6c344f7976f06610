"""Publishing: the training view, the dataset card, the run report and its plots, the Hub push."""
