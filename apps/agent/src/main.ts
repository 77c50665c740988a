console.log('agent');
