// Some ESM packages declare `const require = createRequire(import.meta.url)`; once babel turns
// their imports into require() calls that binding would shadow the real one, so rename it first.
module.exports = () => ({
  visitor: {
    Program(path) {
      if (path.scope.hasOwnBinding('require')) path.scope.rename('require', '_esmRequire');
    },
  },
});
