"""Adam whose update of each variable is one fused kernel.

Keras' Adam writes its update as about a dozen elementwise ops per variable, each a
pass over the variable's memory; over the 8.8M parameters of the PTB model that is
about 15 ms of a 200 ms CPU step. `tf.raw_ops.ResourceApplyAdam` does the same update
in one pass (CPU and GPU kernels). Same formula, same slot variables (the momentums
and velocities are Keras' own, so checkpoints load either way):

  alpha = lr sqrt(1 - beta_2^t) / (1 - beta_1^t)
  m <- m + (1 - beta_1)(g - m);  v <- v + (1 - beta_2)(g^2 - v)
  theta <- theta - alpha m / (sqrt(v) + epsilon)
"""

import keras
import tensorflow as tf


class FusedAdam(keras.optimizers.Adam):
    """`keras.optimizers.Adam` (same arguments and state) with a fused update step."""

    def update_step(self, gradient, variable, learning_rate):
        if self.amsgrad:
            return super().update_step(gradient, variable, learning_rate)
        dtype = variable.dtype
        step = tf.cast(self.iterations + 1, dtype)
        beta_1, beta_2 = tf.cast(self.beta_1, dtype), tf.cast(self.beta_2, dtype)
        index = self._get_variable_index(variable)
        tf.raw_ops.ResourceApplyAdam(
            var=variable.handle, m=self._momentums[index].handle, v=self._velocities[index].handle,
            beta1_power=tf.pow(beta_1, step), beta2_power=tf.pow(beta_2, step),
            lr=tf.cast(learning_rate, dtype), beta1=beta_1, beta2=beta_2,
            epsilon=tf.cast(self.epsilon, dtype), grad=tf.cast(tf.convert_to_tensor(gradient), dtype))
