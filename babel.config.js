// Babel for the ESM packages jest transforms (JupyterLab's own preset).
module.exports = require('@jupyterlab/testutils/lib/babel.config');
