"""Regression on scikit-learn's diabetes data: raw features standardised by a Normalization layer adapted to the
training set (the model carries it), training stopped early when the validation loss stalls."""

import numpy as np
from sklearn.datasets import load_diabetes
from sklearn.model_selection import train_test_split

import highnn as hn
from highnn import layers


def main() -> float:
    x, y = load_diabetes(return_X_y=True, scaled=False)  # 442 patients, 10 raw features, disease progression
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.2, random_state=0)
    mean, std = y_train.mean(), y_train.std()

    hn.utils.set_random_seed(0)
    normalizer = layers.Normalization()  # each feature's mean and variance, learned from the training set
    normalizer.adapt(x_train)
    model = hn.Sequential([
        hn.Input(shape=(10,)),
        normalizer,
        layers.Dense(32, activation="relu", kernel_regularizer=hn.regularizers.L2(1e-3)),
        layers.Dense(1),
    ])  # fmt: skip
    model.compile(optimizer=hn.optimizers.Adam(0.01), loss="mse", metrics=["mae"])
    stop = hn.callbacks.EarlyStopping(monitor="val_loss", patience=20, restore_best_weights=True)
    history = model.fit(
        x_train, (y_train - mean) / std, batch_size=32, epochs=500, validation_split=0.2, callbacks=[stop], verbose=0
    )

    predictions = model.predict(x_test, verbose=0).ravel() * std + mean
    mae = float(np.mean(np.abs(predictions - y_test)))
    baseline = float(np.mean(np.abs(y_train.mean() - y_test)))
    print(f"stopped after {len(history.epoch)} epochs (best epoch {int(np.argmin(history.history['val_loss'])) + 1})")
    print(f"test mean absolute error: {mae:.1f} (predicting the mean: {baseline:.1f})")
    return mae / baseline


if __name__ == "__main__":
    main()
