"Synthetic clinical datasets with known ground truth (gait, echo, ultrasound), written in the real on-disk layouts."
