"""The ECG data layer: readers, the synthetic default, preprocessing, cache and tf.data pipeline."""
