"""One task per module: its data, model and training, as a chapter builds them.

- `reversal`: reversing digit strings, the fixed-context bottleneck (chapter 4.1).
- `dates`: translating written dates into ISO dates with attention (chapter 4.5).
- `sentiment`: movie-review sentiment with a Bi-LSTM and attention pooling (chapter 4.6).

Tasks use the mechanisms (`attention_course.attention`, `attention_course.self_attention`);
the mechanisms never import a task.
"""
