"""Writes the small Keras and TensorFlow fixtures the Go tests of engine/format/tf read:
tiny_cnn.keras and tiny_cnn.h5 (the same model, Keras 3 archive and legacy HDF5),
tiny_cnn_savedmodel/ (the same model, model.export), and
ckpt/model.index + ckpt/model.data-00000-of-00001 (a tf.train.Checkpoint of known values).

Run with the test virtualenv (tensorflow-cpu, Keras 3): .venv/bin/python testdata/keras/make_fixtures.py
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

here = os.path.dirname(os.path.abspath(__file__))
keras.utils.set_random_seed(1)
L = keras.layers
m = keras.Sequential([keras.Input((6, 6, 2)), L.Conv2D(3, 3, padding="same", activation="relu", name="conv"),
                      L.BatchNormalization(name="bn"), L.MaxPooling2D(name="pool"), L.Flatten(name="flat"),
                      L.Dense(4, activation="softmax", name="out")], name="tiny_cnn")
m.save(os.path.join(here, "tiny_cnn.keras"))
m.save(os.path.join(here, "tiny_cnn.h5"))
m.export(os.path.join(here, "tiny_cnn_savedmodel"), verbose=False)
ck = tf.train.Checkpoint(a=tf.Variable(np.arange(6, dtype=np.float32).reshape(2, 3)),
                         b=tf.Variable(np.arange(4, dtype=np.int64)))
ck.write(os.path.join(here, "ckpt", "model"))

# tiny_rnn_savedmodel/: Keras' recurrent While loops (an LSTM, then a GRU that reads its
# input backwards) and tiny_resize_savedmodel/: ResizeBilinear / ResizeNearestNeighbor
# with align_corners and half_pixel_centers, no variables.
s = keras.Input((4, 3), name="seq")
y = L.LSTM(2, return_sequences=True, name="lstm")(s)
y = L.GRU(2, go_backwards=True, name="gru")(y)
keras.Model(s, y, name="tiny_rnn").export(os.path.join(here, "tiny_rnn_savedmodel"), verbose=False)


class Resizes(tf.Module):
    @tf.function(input_signature=[tf.TensorSpec([None, 3, 4, 2], tf.float32, name="image")])
    def serve(self, x):
        return {"bilinear": tf.raw_ops.ResizeBilinear(images=x, size=(5, 7), align_corners=True),
                "nearest": tf.raw_ops.ResizeNearestNeighbor(images=x, size=(6, 8), half_pixel_centers=True)}


r = Resizes()
tf.saved_model.save(r, os.path.join(here, "tiny_resize_savedmodel"), signatures={"serving_default": r.serve})
